import AIOSModel
import XCTest

final class ComponentURITests: XCTestCase {
    func testParsesAndFormats() throws {
        let uri = try XCTUnwrap(ComponentURI("model.vllm-chat:1.0.0-stable"))
        XCTAssertEqual(uri.type, "model")
        XCTAssertEqual(uri.name, "vllm-chat")
        XCTAssertEqual(uri.version, "1.0.0")
        XCTAssertEqual(uri.releaseTag, "stable")
        XCTAssertEqual(uri.description, "model.vllm-chat:1.0.0-stable")
    }

    func testVersionMayHoldDashesTagMayNot() throws {
        let uri = try XCTUnwrap(ComponentURI("model.llama.cpp:2.0.0-rc1-beta"))
        XCTAssertEqual(uri.name, "llama.cpp")
        XCTAssertEqual(uri.version, "2.0.0-rc1")
        XCTAssertEqual(uri.releaseTag, "beta")
    }

    func testRejectsMalformed() {
        for text in ["", "model", "model.x", "model.x:1.0.0", "model.x:-stable", ".x:1-a", "model.:1-a", "mo del.x:1-a", "model.x:1.0-"] {
            XCTAssertNil(ComponentURI(text), text)
        }
    }

    func testBlockIDRules() {
        XCTAssertNil(BlockID.problem("mistral-chat-88"))
        XCTAssertNotNil(BlockID.problem("Mistral"))
        XCTAssertNotNil(BlockID.problem("-a"))
        XCTAssertNotNil(BlockID.problem("a_b"))
        XCTAssertNotNil(BlockID.problem(String(repeating: "a", count: 64)))
        XCTAssertNil(BlockID.problem(String(repeating: "a", count: 63)))
        let generated = BlockID.generate()
        XCTAssertTrue(generated.hasPrefix("blk-"))
        XCTAssertEqual(generated.count, 12)
        XCTAssertNil(BlockID.problem(generated))
    }
}
