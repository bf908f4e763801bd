import Foundation
import AIOSVDAG
import XCTest

final class VDAGURITests: XCTestCase {
    func testParsesAndFormats() throws {
        let uri = try XCTUnwrap(VDAGURI("pose-estimator:0.0.1-stable"))
        XCTAssertEqual(uri, VDAGURI(name: "pose-estimator", version: "0.0.1", releaseTag: "stable"))
        XCTAssertEqual(uri.description, "pose-estimator:0.0.1-stable")
        XCTAssertEqual(VDAGURI(uri.description), uri)
    }

    func testVersionMayHoldDashesTagMayNot() throws {
        let uri = try XCTUnwrap(VDAGURI("llm.split:2.0.0-rc1-beta"))
        XCTAssertEqual(uri.name, "llm.split")
        XCTAssertEqual(uri.version, "2.0.0-rc1")
        XCTAssertEqual(uri.releaseTag, "beta")
        XCTAssertEqual(VDAGURI(uri.description), uri)
        XCTAssertFalse(VDAGURI(name: "a", version: "1", releaseTag: "x-y").problems.isEmpty)
    }

    func testRejectsMalformed() {
        for text in ["", "pose", "pose:0.0.1", "pose:-stable", ":1-a", "pose:1-", "po se:1-a", "pose:1:2-a", "-pose:1-a", "pose:1-a:b"] {
            XCTAssertNil(VDAGURI(text), text)
        }
    }

    func testCodableAsText() throws {
        let uri = VDAGURI(name: "pose-estimator", version: "0.0.1", releaseTag: "stable")
        let data = try JSONEncoder().encode([uri])
        XCTAssertEqual(String(decoding: data, as: UTF8.self), "[\"pose-estimator:0.0.1-stable\"]")
        XCTAssertEqual(try JSONDecoder().decode([VDAGURI].self, from: data), [uri])
    }
}
