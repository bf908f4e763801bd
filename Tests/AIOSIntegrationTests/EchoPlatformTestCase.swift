import AIOSModel
import Foundation
import XCTest

/// A test case with a real `aios up` of its own and the Swift echo registered as `model.chat:1.0.0-stable`
/// (`Fixtures.chatComponent`).
class EchoPlatformTestCase: XCTestCase {
    var directory: URL!
    var platform: PlatformProcess!

    /// Names the test's temporary data directory.
    class var directoryName: String { "echo" }

    override func setUp() async throws {
        directory = temporaryDirectory(Self.directoryName)
        platform = try PlatformProcess(dataDirectory: directory)
        let reply = try await platform.post("/api/addComponent", json: Fixtures.envelope(Fixtures.chatComponent))
        XCTAssertEqual(reply.status, 200, reply.body.jsonString())
    }

    override func tearDown() async throws {
        platform?.stop()
        platform = nil
        try? FileManager.default.removeItem(at: directory)
    }
}
