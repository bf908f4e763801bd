import AIOSKubernetes
import AIOSModel
import Foundation
import Logging
import XCTest

/// The client's retries and deadlines against a small HTTP server (Python's `http.server`): a real API server
/// cannot be made to throttle or fail on demand, so this server answers 429 and 503 before it answers 200, or
/// never answers in time.
final class KubernetesClientRetryTests: XCTestCase {
    static let server = """
    import http.server, json, sys, time
    counts = {}
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        def log_message(self, *args): pass
        def do_GET(self):
            path = self.path.split("?")[0]
            counts[path] = counts.get(path, 0) + 1
            n = counts[path]
            if path == "/count":
                return self.reply(200, {"counts": counts})
            if path == "/flaky" and n == 1:
                self.send_response(429); self.send_header("Retry-After", "0"); self.send_header("Content-Length", "0"); self.end_headers(); return
            if path == "/flaky" and n == 2:
                return self.reply(503, {"kind": "Status", "reason": "ServiceUnavailable", "message": "etcd is busy"})
            if path == "/missing":
                return self.reply(404, {"kind": "Status", "reason": "NotFound", "message": "nodes \\"x\\" not found"})
            if path == "/slow":
                time.sleep(60)
            self.reply(200, {"kind": "NodeList", "items": [], "metadata": {"resourceVersion": "7"}})
        def do_DELETE(self):
            self.reply(404, {"kind": "Status", "reason": "NotFound", "message": "gone already"})
        def reply(self, code, body):
            data = json.dumps(body).encode()
            self.send_response(code); self.send_header("Content-Type", "application/json"); self.send_header("Content-Length", str(len(data))); self.end_headers()
            self.wfile.write(data)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    open(sys.argv[1] + ".tmp", "w").write(str(server.server_address[1]))
    import os; os.rename(sys.argv[1] + ".tmp", sys.argv[1])
    server.serve_forever()
    """

    var process: Process!
    var client: KubernetesClient!

    override func setUp() async throws {
        // The server writes its port into a file: nothing here blocks a thread waiting for it.
        let portFile = FileManager.default.temporaryDirectory.appendingPathComponent("k8s-retry-\(UUID().uuidString).port")
        defer { try? FileManager.default.removeItem(at: portFile) }
        process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", Self.server, portFile.path]
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        var port: Int?
        for _ in 0..<100 where port == nil {
            port = (try? String(contentsOf: portFile, encoding: .utf8)).flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
            if port == nil { try await Task.sleep(for: .milliseconds(100)) }
        }
        guard let port else { throw XCTSkip("the test HTTP server did not start") }
        print("retry test server on port \(port)")
        client = try KubernetesClient(settings: KubernetesSettings(server: URL(string: "http://127.0.0.1:\(port)")!), attempts: 3, logger: Logger(label: "test"))
    }

    override func tearDown() async throws {
        await client?.shutdown()
        guard let process else { return }
        kill(process.processIdentifier, SIGKILL)
        for _ in 0..<100 where process.isRunning { try await Task.sleep(for: .milliseconds(50)) }
    }

    func count(_ path: String) async throws -> Int {
        try await client.get("/count")["counts"]?[path]?.intValue ?? 0
    }

    func testThrottlingAndServerErrorsAreRetried() async throws {
        let list = try await client.get("/flaky")
        XCTAssertEqual(list["kind"]?.stringValue, "NodeList")
        let attempts = try await count("/flaky")
        XCTAssertEqual(attempts, 3, "429, then 503, then the answer")
    }

    func testAnswersThatAreNotTransientAreNotRetried() async throws {
        do {
            _ = try await client.get("/missing")
            XCTFail("a 404 is an error")
        } catch let error as KubernetesError {
            XCTAssertTrue(error.isNotFound)
            XCTAssertEqual(error.description, "HTTP 404 NotFound: nodes \"x\" not found")
        }
        let attempts = try await count("/missing")
        XCTAssertEqual(attempts, 1)
        try await client.delete("/missing")  // a missing object counts as deleted
    }

    func testEveryCallHasADeadline() async throws {
        let started = Date()
        do {
            _ = try await client.get("/slow", timeout: 0.5)
            XCTFail("the server answers after 60 s")
        } catch let error as KubernetesError {
            XCTAssertTrue(error.description.contains("no answer before the deadline"), error.description)
        }
        XCTAssertLessThan(Date().timeIntervalSince(started), 30, "three attempts of 0.5 s and their pauses; without deadlines this would take three minutes")
    }
}
