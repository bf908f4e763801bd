import AIOSModel
import XCTest

final class JSONValueCompactTests: XCTestCase {
    func testCompactJSONParsesBackToTheSameValue() throws {
        let value: JSONValue = [
            "text": "quote \" backslash \\ newline \n tab \t bell \u{07} é 日本 🚀", "int": 42, "negative": -7, "fraction": 0.125,
            "big": 1e300, "small": 1e-7, "huge integer": 9.5e15, "flag": true, "nothing": nil,
            "list": [1, "two", [3], ["four": 4]], "empty": [:], "none": [],
        ]
        let data = value.compactJSONData()
        XCTAssertEqual(try JSONValue.parseJSON(data), value, String(decoding: data, as: UTF8.self))
        XCTAssertEqual(String(decoding: JSONValue.number(3).compactJSONData(), as: UTF8.self), "3")
        XCTAssertEqual(String(decoding: JSONValue.number(.infinity).compactJSONData(), as: UTF8.self), "null")
    }
}
