import AIOSModel
import Foundation
import XCTest

final class DocumentDecoderTests: XCTestCase {
    private func error(_ text: String, contentType: String? = nil, file: StaticString = #filePath, line: UInt = #line) -> APIError? {
        do {
            let value = try DocumentDecoder.decode(Data(text.utf8), contentType: contentType)
            XCTFail("decoded \(value.jsonString())", file: file, line: line)
            return nil
        } catch {
            return error
        }
    }

    func testClearlyJSONBodiesReportJSONErrorsInsteadOfTryingYAML() {
        let deep = error(String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000))
        XCTAssertEqual(deep?.message, "nested deeper than 64 levels at " + String(repeating: "[0]", count: 64))
        XCTAssertEqual(deep?.fields.first?.path, String(repeating: "[0]", count: 64))
        let unclosed = error("  \n{" + String(repeating: #""a":{"#, count: 100_000))
        XCTAssertEqual(unclosed?.fields.first?.message, "nested deeper than 64 levels")
        XCTAssertEqual(error(#"{"spec": {"name": "a", "name": "b"}}"#)?.message, #"duplicate key "name" at spec.name"#)
        XCTAssertEqual(error(#"{"timeout_ms": 1e400}"#)?.fields, [FieldError(path: "timeout_ms", message: "the number 1e400 is out of range (beyond ±1.8e308)")])
        XCTAssertEqual(error(Data([UInt8(ascii: "["), UInt8(ascii: "\""), 0xFF, UInt8(ascii: "\""), UInt8(ascii: "]")]))?.code, .invalidDocument)
    }

    private func error(_ data: Data) -> APIError? {
        do {
            _ = try DocumentDecoder.decode(data)
            return nil
        } catch {
            return error
        }
    }

    func testBrokenJSONStillFallsThroughToYAML() throws {
        XCTAssertEqual(try DocumentDecoder.decode(Data(#"{"a": 1, "b": [2, 3,],}"#.utf8)), ["a": 1, "b": [2, 3]])
        XCTAssertEqual(try DocumentDecoder.decode(Data("{a: 1}".utf8)), ["a": 1])
        XCTAssertEqual(try DocumentDecoder.decode(Data("a: 1\n".utf8)), ["a": 1])
        // Nesting that YAML must read is bounded the same way.
        XCTAssertEqual(error("a: " + String(repeating: "[", count: 65) + String(repeating: "]", count: 65))?.fields.first?.message,
                       "nested deeper than 64 levels")
        // A YAML content type reads JSON text as YAML, with YAML's own duplicate-key check.
        XCTAssertNotNil(error(#"{"a": 1, "a": 2}"#, contentType: "application/yaml"))
        XCTAssertNotNil(error(#"{"a": 1, "a": 2}"#, contentType: "text/plain"))
    }

    func testJSONAndYAMLAgreeOnNumbersAndStrings() throws {
        let json = try DocumentDecoder.decode(Data(#"{"i": 12, "f": 0.5, "s": "a*b", "u": "\u00e9", "n": null, "b": false}"#.utf8))
        let yaml = try DocumentDecoder.decode(Data("i: 12\nf: 0.5\ns: a*b\nu: é\nn: null\nb: false\n".utf8))
        XCTAssertEqual(json, yaml)
    }
}
