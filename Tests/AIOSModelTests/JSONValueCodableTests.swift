import AIOSModel
import Foundation
import XCTest

final class JSONValueCodableTests: XCTestCase {
    func testDecodableReadsEveryKindAsTheParserDoes() throws {
        let text = #"{"a": [1, {"b": null, "c": [[], {}]}], "t": true, "f": false, "s": "x", "n": -1.5, "e": "", "z": 0}"#
        let decoded = try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
        XCTAssertEqual(decoded, try JSONValue.parseJSON(Data(text.utf8)))
        XCTAssertEqual(decoded["t"], .bool(true), "a bool stays a bool")
        XCTAssertEqual(decoded["z"], .number(0), "a number stays a number")
        XCTAssertEqual(try JSONDecoder().decode(JSONValue.self, from: Data("null".utf8)), .null)
        XCTAssertEqual(try JSONDecoder().decode([String: JSONValue].self, from: Data(#"{"k": [true, "1", 1]}"#.utf8)), ["k": [true, "1", 1]])
    }

    func testDeepNestingDecodes() throws {
        let objects = String(repeating: #"{"a":"#, count: 200) + "1" + String(repeating: "}", count: 200)
        XCTAssertEqual(try JSONDecoder().decode(JSONValue.self, from: Data(objects.utf8)),
                       try JSONValue.parseJSON(Data(objects.utf8), maxDepth: 200))
        let arrays = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        XCTAssertEqual(try JSONDecoder().decode(JSONValue.self, from: Data(arrays.utf8)),
                       try JSONValue.parseJSON(Data(arrays.utf8), maxDepth: 100))
    }
}
