import AIOSModel
import Foundation
import XCTest

final class JSONParserTests: XCTestCase {
    private func parse(_ text: String, maxDepth: Int = JSONParser.documentMaxDepth) throws -> JSONValue {
        try JSONParser(maxDepth: maxDepth).parse(Data(text.utf8))
    }

    private func failure(_ bytes: [UInt8], maxDepth: Int = JSONParser.documentMaxDepth,
                         file: StaticString = #filePath, line: UInt = #line) -> JSONParser.Failure? {
        do {
            let value = try JSONParser(maxDepth: maxDepth).parseReportingKind(Data(bytes))
            XCTFail("parsed \(value.jsonString()) from \(String(decoding: bytes, as: UTF8.self))", file: file, line: line)
            return nil
        } catch {
            return error
        }
    }

    private func failure(_ text: String, maxDepth: Int = JSONParser.documentMaxDepth,
                         file: StaticString = #filePath, line: UInt = #line) -> JSONParser.Failure? {
        failure(Array(text.utf8), maxDepth: maxDepth, file: file, line: line)
    }

    func testReadsEveryKindOfValue() throws {
        let value = try parse(#" { "a" : [1, -2.5, 3e2, true, false, null, "x", {}, []], "b": {"c": {"d": "e"}} } "#)
        XCTAssertEqual(value, ["a": [1, -2.5, 300, true, false, nil, "x", [:], []], "b": ["c": ["d": "e"]]])
        XCTAssertEqual(try parse("42"), 42)
        XCTAssertEqual(try parse(#""top""#), "top")
        XCTAssertEqual(try parse("\u{FEFF}[1]"), [1], "a byte order mark is skipped")
    }

    func testStringEscapesAndSurrogatePairs() throws {
        XCTAssertEqual(try parse(#""\"\\\/\b\f\n\r\t""#), "\"\\/\u{08}\u{0C}\n\r\t")
        XCTAssertEqual(try parse(#""caf\u00e9 \u00E9 \ud83d\ude00 \u0000""#), "café é 😀 \u{0}")
        XCTAssertEqual(try parse("\"héllo 😀\""), "héllo 😀")
        XCTAssertEqual(try parse(#"{"k\u0041y": 1}"#), ["kAy": 1])
        for bad in [#""\ud800""#, #""\udc00""#, #""\ud800\u0041""#, #""\ud800x""#] {
            XCTAssertEqual(failure(bad)?.kind, .encoding, bad)
        }
        for bad in [#""\x""#, #""\u12""#, #""\u12G4""#, "\"tab\there\"", "\"line\nbreak\"", #""open"#] {
            XCTAssertEqual(failure(bad)?.kind, .syntax, bad)
        }
    }

    func testInvalidUTF8IsRefused() {
        let quote = UInt8(ascii: "\"")
        for bytes: [UInt8] in [
            [quote, 0xFF, quote],                       // never valid
            [quote, 0xC0, 0xAF, quote],                 // overlong "/"
            [quote, 0xED, 0xA0, 0x80, quote],           // an encoded surrogate
            [quote, 0xE2, 0x82, quote],                 // truncated
            [quote, 0xF4, 0x90, 0x80, 0x80, quote],     // beyond U+10FFFF
            [UInt8(ascii: "{"), quote, 0xFE, quote, UInt8(ascii: ":"), UInt8(ascii: "1"), UInt8(ascii: "}")],
        ] {
            XCTAssertEqual(failure(bytes)?.kind, .encoding, "\(bytes)")
        }
        XCTAssertEqual(failure([UInt8(ascii: "["), 0xC3, 0xA9, UInt8(ascii: "]")])?.kind, .syntax, "UTF-8 outside a string")
    }

    func testNumbers() throws {
        XCTAssertEqual(try parse("[0, -0, 10, 1.25, -1.5e-3, 2E+2, 123456789012345]"), [0, 0, 10, 1.25, -0.0015, 200, 123_456_789_012_345])
        XCTAssertEqual(try parse("9007199254740993"), .number(9_007_199_254_740_992), "rounds like a Double")
        XCTAssertEqual(try parse("18446744073709551616"), .number(18_446_744_073_709_551_616))
        XCTAssertEqual(try parse("1e-400"), 0, "underflow is zero, not an error")
        for bad in ["01", "-", "+1", ".5", "1.", "1e", "1e+", "-a", "NaN", "Infinity", "-Infinity", "0x10", "1_000"] {
            XCTAssertEqual(failure(bad)?.kind, .syntax, bad)
        }
        let overflow = failure(#"{"a": [1, {"b": 1e400}]}"#)
        XCTAssertEqual(overflow?.kind, .number)
        XCTAssertEqual(overflow?.path.description, "a[1].b")
        XCTAssertEqual(overflow?.apiError.fields, [FieldError(path: "a[1].b", message: "the number 1e400 is out of range (beyond ±1.8e308)")])
        XCTAssertEqual(failure("-1" + String(repeating: "0", count: 400))?.kind, .number)
    }

    func testDepthIsCappedWithAClearError() throws {
        let deepest = String(repeating: "[", count: 64) + String(repeating: "]", count: 64)
        XCTAssertNoThrow(try parse(deepest))
        let tooDeep = failure(String(repeating: "[", count: 65) + String(repeating: "]", count: 65))
        XCTAssertEqual(tooDeep?.kind, .depth)
        XCTAssertEqual(tooDeep?.path.description, String(repeating: "[0]", count: 64))
        XCTAssertEqual(tooDeep?.apiError.message, "nested deeper than 64 levels at " + String(repeating: "[0]", count: 64))
        let objects = failure(String(repeating: #"{"a":"#, count: 65) + "1" + String(repeating: "}", count: 65))
        XCTAssertEqual(objects?.kind, .depth)
        XCTAssertEqual(objects?.path.description, Array(repeating: "a", count: 64).joined(separator: "."))
        XCTAssertEqual(objects?.apiError.fields.first?.message, "nested deeper than 64 levels")
        // Depth 100,000 fails as soon as it passes the cap, without reading on or recursing.
        let huge = failure(String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000))
        XCTAssertEqual(huge?.kind, .depth)
        let unbalanced = failure(String(repeating: #"{"k":["#, count: 100_000))
        XCTAssertEqual(unbalanced?.kind, .depth)
        // Other bounds are the caller's.
        XCTAssertNoThrow(try parse(String(repeating: "[", count: 500) + String(repeating: "]", count: 500), maxDepth: 512))
        XCTAssertEqual(failure("[[1]]", maxDepth: 1)?.kind, .depth)
    }

    func testDuplicateKeysAreRefused() {
        let duplicate = failure(#"{"a": {"x": 1, "y": 2, "x": 3}}"#)
        XCTAssertEqual(duplicate?.kind, .duplicateKey)
        XCTAssertEqual(duplicate?.apiError.message, #"duplicate key "x" at a.x"#)
        XCTAssertEqual(duplicate?.apiError.fields, [FieldError(path: "a.x", message: #"duplicate key "x""#)])
        XCTAssertEqual(duplicate?.apiError.code, .invalidDocument)
        XCTAssertEqual(failure(#"[{"a": 1}, {"b": 1, "b": 1}]"#)?.path.description, "[1].b")
        XCTAssertEqual(failure(#"{"\u0061": 1, "a": 2}"#)?.kind, .duplicateKey, "keys compare after unescaping")
    }

    func testSyntaxErrorsSayWhere() {
        for bad in ["", "   ", "[1,]", #"{"a":1,}"#, "[1 2]", #"{"a" 1}"#, "{a: 1}", "'x'", "[1] [2]", "tru", "nul", "[", #"{"a":"#, "// c\n1"] {
            XCTAssertEqual(failure(bad)?.kind, .syntax, bad)
        }
        let error = failure("{\n  \"a\": [1,\n   2,, 3]\n}")
        XCTAssertEqual(error?.path.description, "a[2]")
        XCTAssertEqual(error?.reason, "unexpected ',', expected a value (line 3, column 6)")
        XCTAssertEqual(error?.apiError.message, "the body is not valid JSON: unexpected ',', expected a value (line 3, column 6) at a[2]")
    }

    func testLargeInputReadsInOnePass() throws {
        let count = 100_000
        let array = try parse("[" + Array(repeating: #"{"k": "v", "n": 1}"#, count: count).joined(separator: ",") + "]")
        XCTAssertEqual(array.arrayValue?.count, count)
        let long = String(repeating: "x", count: 1_000_000)
        XCTAssertEqual(try parse("\"\(long)\\n\""), .string(long + "\n"))
    }

    func testDecodeJSONKeepsItsSignatureAndParseJSONSaysWhy() {
        XCTAssertEqual(JSONValue.decodeJSON(Data(#"{"a": [1]}"#.utf8)), ["a": [1]])
        XCTAssertNil(JSONValue.decodeJSON(Data("{a: 1}".utf8)))
        XCTAssertNil(JSONValue.decodeJSON(Data(#"{"a": 1, "a": 2}"#.utf8)))
        // Records the platform writes wrap submitted documents, so decodeJSON allows more nesting than a document.
        let deep = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        XCTAssertNotNil(JSONValue.decodeJSON(Data(deep.utf8)))
        XCTAssertNil(JSONValue.decodeJSON(Data((String(repeating: "[", count: 600) + String(repeating: "]", count: 600)).utf8)))
        XCTAssertThrowsError(try JSONValue.parseJSON(Data(deep.utf8))) { error in
            XCTAssertEqual((error as? APIError)?.fields.first?.message, "nested deeper than 64 levels")
        }
        XCTAssertEqual(try JSONValue.parseJSON(Data(deep.utf8), maxDepth: 100), JSONValue.decodeJSON(Data(deep.utf8)))
    }

    func testEncodingRoundTripsThroughTheParser() throws {
        struct Record: Codable { var name: String; var values: JSONValue }
        let record = Record(name: "r", values: ["a": [1, 2.5, "x", nil, true]])
        let value = try JSONValue(encoding: record)
        XCTAssertEqual(value, ["name": "r", "values": ["a": [1, 2.5, "x", nil, true]]])
        XCTAssertEqual(try value.decode(Record.self).values, record.values)
        XCTAssertEqual(try JSONDecoder().decode(JSONValue.self, from: value.jsonData()), value)
    }
}
