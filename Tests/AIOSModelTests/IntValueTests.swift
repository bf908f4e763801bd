import AIOSModel
import Foundation
import XCTest

/// Numbers beyond what an `Int` holds must read as "not an integer", never trap (issue 15, defect 1).
final class IntValueTests: XCTestCase {
    func testIntValueRefusesWhatAnIntCannotHold() {
        XCTAssertEqual(JSONValue.number(9_223_372_036_854_774_784).intValue, 9_223_372_036_854_774_784, "the largest Double below 2^63")
        XCTAssertNil(JSONValue.number(9_223_372_036_854_775_808).intValue, "2^63 == Double(Int.max) once rounded")
        XCTAssertEqual(JSONValue.number(-9_223_372_036_854_775_808).intValue, Int.min)
        XCTAssertNil(JSONValue.number(-9_223_372_036_854_777_856).intValue, "the next Double below -2^63")
        XCTAssertNil(JSONValue.number(1.8446744073709552e19).intValue)
        XCTAssertNil(JSONValue.number(1e300).intValue)
        XCTAssertNil(JSONValue.number(.infinity).intValue)
        XCTAssertNil(JSONValue.number(-.infinity).intValue)
        XCTAssertNil(JSONValue.number(.nan).intValue)
        XCTAssertNil(JSONValue.number(1.5).intValue)
        XCTAssertEqual(JSONValue.number(-0.0).intValue, 0)
        XCTAssertEqual(JSONValue.number(42).intValue, 42)
        XCTAssertNil(JSONValue.string("42").intValue)
    }

    func testHugeIntegersInABodyAreReportedByField() throws {
        for literal in ["9223372036854775808", "18446744073709551616", "1e300", "-9223372036854777856"] {
            let document = try DocumentDecoder.decode(Data(#"{"seq_no": \#(literal), "timeout_ms": \#(literal)}"#.utf8))
            XCTAssertNil(document["seq_no"]?.intValue, literal)
            var reader = FieldReader()
            XCTAssertNil(reader.int(document.objectValue ?? [:], "timeout_ms", at: .root, minimum: 1))
            XCTAssertEqual(reader.errors.map(\.path), ["timeout_ms"], literal)
        }
        // YAML numbers take the same path.
        let yaml = try DocumentDecoder.decode(Data("n: 9223372036854775808\nm: 1e19\n".utf8))
        XCTAssertNil(yaml["n"]?.intValue)
        XCTAssertNil(yaml["m"]?.intValue)
    }
}
