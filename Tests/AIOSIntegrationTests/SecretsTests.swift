import AIOSModel
import Foundation
import XCTest

/// Secret values of a block are sealed at rest, read as "***", never logged, still reach the instances, and go
/// with the block's files when it is removed.
final class SecretsTests: XCTestCase {
    static let secrets = ["sk-SECRET-ONE", "hf-SECRET-TWO", "pw-SECRET-THREE"]

    func testSecretsAreSealedShownAsStarsAndReachTheInstance() async throws {
        let directory = temporaryDirectory("secrets")
        defer { try? FileManager.default.removeItem(at: directory) }
        let platform = try PlatformProcess(dataDirectory: directory)
        var component = Fixtures.chatComponent.objectValue ?? [:]
        component["componentInitSettingsProtocol"] = ["db_pass": ["type": "string", "secret": true], "timeout_ms": ["type": "number"]]
        let added = try await platform.post("/api/addComponent", json: Fixtures.envelope(.object(component)))
        XCTAssertEqual(added.status, 200, added.body.jsonString())
        let created = try await platform.post("/api/createBlock", json: Fixtures.envelope([
            "blockId": "vault", "blockComponentURI": "model.chat:1.0.0-stable", "minInstances": 1, "maxInstances": 1,
            "blockInitData": ["api_key": "sk-SECRET-ONE", "hub": ["hf_token": "hf-SECRET-TWO"], "max_tokens": 64, "note": "visible"],
            "initSettings": ["db_pass": "pw-SECRET-THREE"],
        ]))
        XCTAssertEqual(created.status, 200, created.body.jsonString())
        try await platform.waitForPhase("vault", "Ready")

        // Reads show stars; what is not secret reads as it was given.
        let read = try await platform.get("/api/blocks/vault")
        let text = read.body.jsonString()
        for secret in Self.secrets { XCTAssertFalse(text.contains(secret), "\(secret) in a read: \(text)") }
        XCTAssertEqual(read.body["resolved"]?["blockInitData"]?["api_key"], "***")
        XCTAssertEqual(read.body["resolved"]?["blockInitData"]?["hub"]?["hf_token"], "***")
        XCTAssertEqual(read.body["spec"]?["initSettings"]?["db_pass"], "***")
        XCTAssertEqual(read.body["resolved"]?["blockInitData"]?["max_tokens"], 64)
        XCTAssertEqual(read.body["resolved"]?["blockInitData"]?["note"], "visible")
        for path in ["/api/blocks", "/api/tasks", "/api/blocks/vault/logs"] {
            let listed = try await platform.get(path).body.jsonString()
            for secret in Self.secrets { XCTAssertFalse(listed.contains(secret), "\(secret) in \(path)") }
        }

        // The instance gets the real values.
        let data = try await platform.post("/api/executeMgmtCommand", json: ["blockId": "vault", "mgmtCommand": "block_data", "mgmtData": [:]])
        let received = try XCTUnwrap(data.body["data"]?.arrayValue?.first?["data"], data.body.jsonString())
        XCTAssertEqual(received["blockInitData"]?["api_key"], "sk-SECRET-ONE")
        XCTAssertEqual(received["blockInitData"]?["hub"]?["hf_token"], "hf-SECRET-TWO")
        XCTAssertEqual(received["initSettings"]?["db_pass"], "pw-SECRET-THREE")

        // Nothing at rest holds them in clear but the instance's own block file (0600), and the log says nothing.
        platform.stop()
        let files = try FileManager.default.subpathsOfDirectory(atPath: directory.path)
        for file in files {
            let url = directory.appendingPathComponent(file)
            guard let bytes = FileManager.default.contents(atPath: url.path) else { continue }
            let content = String(decoding: bytes, as: UTF8.self)
            if file.hasPrefix("instances/") {
                let mode = (try FileManager.default.attributesOfItem(atPath: url.path)[.posixPermissions] as? NSNumber)?.intValue
                XCTAssertEqual(mode, 0o600, file)
                continue
            }
            for secret in Self.secrets { XCTAssertFalse(content.contains(secret), "\(secret) in clear in \(file)") }
        }

        // After a restart the sealed values still open for new instances; removal takes the block's files along.
        let again = try PlatformProcess(dataDirectory: directory)
        try await again.waitForPhase("vault", "Ready")
        let reopened = try await again.post("/api/executeMgmtCommand", json: ["blockId": "vault", "mgmtCommand": "block_data", "mgmtData": [:]])
        XCTAssertEqual(reopened.body["data"]?.arrayValue?.first?["data"]?["blockInitData"]?["api_key"], "sk-SECRET-ONE", reopened.body.jsonString())
        let removal = try await again.post("/api/removeBlock", json: ["blockId": "vault"])
        XCTAssertEqual(removal.status, 200, removal.body.jsonString())
        XCTAssertFalse(FileManager.default.fileExists(atPath: directory.appendingPathComponent("instances/vault").path))
        XCTAssertFalse(FileManager.default.fileExists(atPath: directory.appendingPathComponent("logs/vault").path))
    }
}
