import AIOSModel
import Foundation
import XCTest
import Yams

final class YAMLReaderTests: XCTestCase {
    private func yaml(_ text: String) throws -> JSONValue {
        try DocumentDecoder.decode(Data(text.utf8), contentType: "application/yaml")
    }

    private func error(_ text: String, file: StaticString = #filePath, line: UInt = #line) -> APIError? {
        do {
            let value = try DocumentDecoder.decode(Data(text.utf8))
            XCTFail("decoded \(value.jsonString())", file: file, line: line)
            return nil
        } catch {
            return error
        }
    }

    /// `levels` anchors, each a list of `fan` aliases to the one before: fan^levels values once expanded.
    private func bomb(levels: Int, fan: Int) -> String {
        var text = "a0: &a0 [lol, lol]\n"
        for level in 1..<levels {
            text += "a\(level): &a\(level) [" + Array(repeating: "*a\(level - 1)", count: fan).joined(separator: ", ") + "]\n"
        }
        return text
    }

    func testLargeYAMLIsRefusedAndLargeBrokenJSONIsNotReadAsYAML() {
        let yamlBody = String(repeating: "key: value\n", count: 110_000)
        XCTAssertEqual(error(yamlBody)?.code, .payloadTooLarge)
        let brokenJSON = "[" + String(repeating: "1, ", count: 400_000) + "oops"
        XCTAssertEqual(error(brokenJSON)?.code, .invalidDocument, "a large broken JSON body gets the JSON error")
        let small = try? yaml("key: value\n")
        XCTAssertEqual(small, ["key": "value"])
    }

    func testAliasBombFailsFast() {
        // 56 aliases in about 500 bytes: 7^8 × 2 values once expanded (the probe's 95 s and 2.3 GB).
        let text = bomb(levels: 9, fan: 7)
        XCTAssertLessThan(text.utf8.count, 640)
        let failure = error(text)
        XCTAssertEqual(failure?.code, .invalidDocument)
        XCTAssertTrue(failure?.message.contains("aliases expand to more than 100000 values") ?? false, failure?.message ?? "")
        XCTAssertEqual(failure?.fields.count, 1)
        XCTAssertTrue(failure?.fields.first?.path.hasPrefix("a") ?? false, "\(failure?.fields ?? [])")
        // 64 levels of two, far beyond any count of aliases a text-based cap would allow to pass.
        XCTAssertNotNil(error(bomb(levels: 64, fan: 2)))
    }

    func testAliasesRepeatingLongTextAreBounded() {
        // 100 KB repeated 100 times: 10 MB of text for whoever reads the document after (8 MB are allowed).
        let long = String(repeating: "x", count: 100_000)
        let failure = error("a: &a \(long)\nb: [" + Array(repeating: "*a", count: 100).joined(separator: ", ") + "]\n")
        XCTAssertTrue(failure?.message.contains("aliases expand to more than 8388608 bytes of text") ?? false, failure?.message ?? "")
        XCTAssertEqual(failure?.fields.first?.path.hasPrefix("b["), true)
        let key = String(repeating: "k", count: 100_000)
        XCTAssertNotNil(error("a: &a {\(key): 1}\nb: [" + Array(repeating: "*a", count: 100).joined(separator: ", ") + "]\n"))
    }

    func testAliasesAsKeysCannotExpandWhileComposing() {
        // Yams hashes each mapping key in full: an alias to a bomb as a key must be refused before that.
        XCTAssertTrue(error(bomb(levels: 12, fan: 6) + "? *a11\n: 1\n")?.message.contains("mapping key must be a scalar") ?? false)
        XCTAssertNotNil(error(bomb(levels: 12, fan: 6) + "? [*a11, *a11]\n: 1\n"))
        XCTAssertNotNil(error("k: &k [a]\nm: {*k : 1}\n"))
        XCTAssertNotNil(error("? [a]\n: 1\n"), "a sequence as a key (Yams' loader crashed on it)")
        XCTAssertNotNil(error("{[a]: 1}"), "in flow style")
    }

    func testAliasesMergeKeysAndAnchorsReadAsYamsReadsThem() throws {
        let text = """
            base: &base {a: 1, b: [x, y]}
            other: &other {b: 9, c: 3}
            derived:
              <<: *base
              b: 2
            both:
              <<: [*base, *other]
            inline:
              <<: {z: 26}
              y: 25
            list: [*base, *base]
            shadow: &base 7
            after: *base
            scalar: &s hello
            key: {*s : world}
            """
        let value = try yaml(text)
        XCTAssertEqual(value["derived"], ["a": 1, "b": 2])
        XCTAssertEqual(value["both"], ["a": 1, "b": ["x", "y"], "c": 3], "the first merged mapping wins")
        XCTAssertEqual(value["inline"], ["z": 26, "y": 25])
        XCTAssertEqual(value["list"], [["a": 1, "b": ["x", "y"]], ["a": 1, "b": ["x", "y"]]])
        XCTAssertEqual(value["after"], 7, "an alias names the latest anchor defined before it")
        XCTAssertEqual(value["key"], ["hello": "world"], "an alias to a scalar may be a key")
        // An anchor redefined later does not change what an earlier alias inside a collection meant.
        XCTAssertEqual(try yaml("x: &a 1\ny: &b [*a]\nz: &a 2\nw: *b\nv: *a\n")["w"], [1])
    }

    func testStarsThatAreNotAliasesStayText() throws {
        let value = try yaml("""
            value: "dma-*"
            other: a*b
            single: '*x'
            plain: it's *not an alias
            block: |
              *line
               * item
            "k*y": 1
            list: [it's, x*y]
            # a comment with *star
            """)
        XCTAssertEqual(value, [
            "value": "dma-*", "other": "a*b", "single": "*x", "plain": "it's *not an alias",
            "block": "*line\n * item\n", "k*y": 1, "list": ["it's", "x*y"],
        ])
        // An apostrophe in a flow sequence does not hide the aliases after it.
        XCTAssertEqual(try yaml("a: &a [x]\nb: [it's, *a, *a]\n")["b"], ["it's", ["x"], ["x"]])
        // The reader's marker for * cannot collide with the text's own private-use characters.
        XCTAssertEqual(try yaml("a: \"\u{E000}*\"\nb: &b \u{E000}\nc: *b\n"), ["a": "\u{E000}*", "b": "\u{E000}", "c": "\u{E000}"])
    }

    func testBadAliasesAreRefused() {
        XCTAssertTrue(error("a: *nothing\n")?.message.contains("names no anchor") ?? false)
        XCTAssertNotNil(error("a: &x 1\nb: *x.y\n"))
        XCTAssertNotNil(error("a: &x 1\nb: &y *x\n"))
        XCTAssertNotNil(error("a: &x 1\nb:\n  <<: *x\n"), "merging a scalar")
    }

    func testNestingIsCapped() {
        let deep = String(repeating: "- ", count: 1) + String(repeating: "[", count: 64) + String(repeating: "]", count: 64)
        let failure = error(deep)
        XCTAssertEqual(failure?.fields.first?.message, "nested deeper than 64 levels")
        XCTAssertNoThrow(try yaml(String(repeating: "[", count: 64) + String(repeating: "]", count: 64)))
        // Through aliases too.
        var chain = "a0: &a0 [x]\n"
        for level in 1...70 { chain += "a\(level): &a\(level) [*a\(level - 1)]\n" }
        XCTAssertTrue(error(chain)?.message.contains("nested deeper than 64 levels") ?? false)
        // Far deeper than libyaml allows: an error at once, not a crash.
        XCTAssertNotNil(error("a: " + String(repeating: "[", count: 100_000)))
    }

    func testKeysAndScalars() throws {
        let value = try yaml("""
            1: one
            true: yes
            null: ~
            i: 0x1F
            f: -1.5e3
            q: "12"
            t: 2001-12-14
            big: 123456789012345678901234567890
            e: ''
            """)
        XCTAssertEqual(value, [
            "1": "one", "true": true, "null": nil, "i": 31, "f": -1500, "q": "12",
            "t": "2001-12-14T00:00:00Z", "big": "123456789012345678901234567890", "e": "",
        ])
        XCTAssertTrue(error("1: a\n\"1\": b\n")?.message.contains(#"duplicate key "1""#) ?? false)
        XCTAssertNotNil(error("a: 1\na: 2\n"))
        XCTAssertTrue(error("x: .inf\n")?.message.contains("not a finite number") ?? false)
    }

    func testAliasesWithinTheBudgetExpand() throws {
        // 1,000 items repeated 50 times: 50,000 values from aliases.
        let items = "[" + Array(repeating: "1", count: 1000).joined(separator: ", ") + "]"
        let value = try yaml("a: &a \(items)\nb: [" + Array(repeating: "*a", count: 50).joined(separator: ", ") + "]\n")
        XCTAssertEqual(value["b"]?.arrayValue?.count, 50)
        // The budget is for what aliases add, not for what the text holds itself.
        let plain = try yaml("[" + Array(repeating: "0", count: 120_000).joined(separator: ",") + "]")
        XCTAssertEqual(plain.arrayValue?.count, 120_000)
    }

    func testMultiDocumentStreams() throws {
        XCTAssertEqual(try DocumentDecoder.decodeAll(Data("a: &x 1\n---\nb: 2\n...\n---\n- c\n".utf8)), [["a": 1], ["b": 2], ["c"]])
        let failure = error("a: 1\n---\nb: " + String(repeating: "[", count: 70) + String(repeating: "]", count: 70) + "\n")
        XCTAssertEqual(failure?.message, "nested deeper than 64 levels at b" + String(repeating: "[0]", count: 63) + " in document 2")
    }

    /// What the platform read before this reader: Yams' loader, converted the same way.
    private func legacy(_ text: String) throws -> [JSONValue] {
        func convert(_ value: Any?) -> JSONValue {
            switch value {
            case nil, is NSNull: return .null
            case let bool as Bool: return .bool(bool)
            case let int as Int: return .number(Double(int))
            case let double as Double: return .number(double)
            case let string as String: return .string(string)
            case let date as Date: return .string(ISO8601DateFormatter().string(from: date))
            case let data as Data: return .string(data.base64EncodedString())
            case let array as [Any]: return .array(array.map(convert))
            case let mapping as [AnyHashable: Any]:
                return .object(Dictionary(uniqueKeysWithValues: mapping.map { (String(describing: $0.key.base), convert($0.value)) }))
            case let other?: return .string(String(describing: other))
            }
        }
        return try Yams.load_all(yaml: text).map(convert)
    }

    func testSameValuesAsYamsLoaderForOrdinaryDocuments() throws {
        for text in [
            "a:\n  b: [1, two, true, null]\nv: 1.0.0\n",
            "list:\n  - name: x\n    n: 1_000\n  - {name: y, n: -0o17}\nstr: >\n  folded\n  text\n",
            "base: &b {k: v, n: [1, 2]}\nuse: *b\nmerged:\n  <<: *b\n  k: w\n",
            "stamps: [2001-12-14t21:59:43.10-05:00, 2002-12-14]\nbin: !!binary aGVsbG8=\nflt: [1.5, .5, 1e3, -.1]\n",
            "bools: [yes, No, on, OFF, True]\nnulls: [~, null, Null, '']\nquoted: ['1', \"true\", '~']\n",
            "tagged: !!str 12\nint: !!int '7'\ncustom: !thing {a: 1}\n",
            "---\na: 1\n---\nb: [*x]\n".replacingOccurrences(of: "[*x]", with: "[x]"),
            "=: eq\n<<: {m: 1}\nq: \"a*b \\u00e9\"\n",
        ] {
            XCTAssertEqual(try DocumentDecoder.decodeAll(Data(text.utf8), contentType: "application/yaml"), try legacy(text), text)
        }
    }
}
