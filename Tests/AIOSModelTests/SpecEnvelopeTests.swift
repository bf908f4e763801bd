import AIOSModel
import Foundation
import XCTest

final class SpecEnvelopeTests: XCTestCase {
    func testHeaderEnvelopeUnwrapsValuesAndRemembersTheirPath() throws {
        let envelope = try SpecEnvelope(document: [
            "header": ["templateUri": "Parser/V1", "parameters": ["a": 1]],
            "body": ["spec": ["values": ["blockId": "b1"]]],
        ])
        XCTAssertEqual(envelope.values, ["blockId": "b1"])
        XCTAssertEqual(envelope.valuesPath.description, "body.spec.values")
        XCTAssertEqual(envelope.templateParameters, ["a": 1])
    }

    func testHeadSpellingIsAccepted() throws {
        let envelope = try SpecEnvelope(document: [
            "head": ["templateUri": "Parser/V1"],
            "body": ["spec": ["values": ["x": true]]],
        ])
        XCTAssertEqual(envelope.values, ["x": true])
    }

    func testBareValuesAreTheirOwnRoot() throws {
        let envelope = try SpecEnvelope(document: ["blockId": "b1"])
        XCTAssertEqual(envelope.values, ["blockId": "b1"])
        XCTAssertEqual(envelope.valuesPath, .root)
    }

    func testUnknownTemplateIsRejectedByPath() {
        XCTAssertThrowsError(try SpecEnvelope(document: [
            "header": ["templateUri": "Custom/V9"], "body": ["spec": ["values": [:]]],
        ])) { error in
            XCTAssertEqual((error as? APIError)?.fields.map(\.path), ["header.templateUri"])
        }
    }

    func testEnvelopeWithoutValuesNamesTheMissingPath() {
        XCTAssertThrowsError(try SpecEnvelope(document: ["header": ["templateUri": "Parser/V1"], "body": ["spec": [:]]])) { error in
            XCTAssertEqual((error as? APIError)?.fields.map(\.path), ["body.spec.values"])
        }
    }

    func testNonObjectDocumentIsRejected() {
        XCTAssertThrowsError(try SpecEnvelope(document: [1, 2])) { error in
            XCTAssertEqual((error as? APIError)?.fields.map(\.path), ["$"])
        }
    }

    func testYAMLAndJSONDecodeToTheSameDocument() throws {
        let json = try DocumentDecoder.decode(Data(#"{"a": {"b": [1, "two", true, null]}, "v": "1.0.0"}"#.utf8))
        let yaml = try DocumentDecoder.decode(Data("a:\n  b: [1, two, true, null]\nv: 1.0.0\n".utf8), contentType: "application/yaml")
        XCTAssertEqual(json, yaml)
    }

    func testMultiDocumentYAML() throws {
        let documents = try DocumentDecoder.decodeAll(Data("a: 1\n---\nb: 2\n".utf8))
        XCTAssertEqual(documents, [["a": 1], ["b": 2]])
    }

    func testGarbageIsAnInvalidDocument() {
        XCTAssertThrowsError(try DocumentDecoder.decode(Data("{not: [json".utf8))) { error in
            XCTAssertEqual((error as? APIError)?.code, .invalidDocument)
        }
        XCTAssertThrowsError(try DocumentDecoder.decode(Data("   ".utf8)))
    }

    func testYAMLAliasBombsAreRefused() {
        var yaml = "a: &a [x, x, x, x, x, x, x, x, x]\n"
        for level in 1...9 { yaml += "l\(level): &l\(level) [" + Array(repeating: level == 1 ? "*a" : "*l\(level - 1)", count: 9).joined(separator: ", ") + "]\n" }
        XCTAssertThrowsError(try DocumentDecoder.decode(Data(yaml.utf8))) { error in
            XCTAssertTrue((error as? APIError)?.message.contains("aliases") ?? false)
        }
        // Globs in quoted or plain values are not aliases.
        XCTAssertNoThrow(try DocumentDecoder.decode(Data("value: \"dma-*\"\nother: a*b\n".utf8)))
    }

    func testIntegralNumbersEncodeWithoutFraction() {
        XCTAssertEqual(JSONValue.object(["n": 3, "f": 0.5]).jsonString(), #"{"f":0.5,"n":3}"#)
    }
}
