import AIOSModel
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import XCTest

/// A real `aios up` child process on a free loopback port with its own data directory.
final class PlatformProcess: @unchecked Sendable {
    static var repositoryRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    /// The `aios` executable: `$AIOS_BIN`, else the debug build next to the tests.
    static var executable: URL {
        if let path = ProcessInfo.processInfo.environment["AIOS_BIN"] { return URL(fileURLWithPath: path) }
        return repositoryRoot.appendingPathComponent(".build/debug/aios")
    }

    /// The repository's `.venv` (made by `make test`), where the Python SDK is installed.
    static var pythonVirtualEnv: String? {
        let venv = repositoryRoot.appendingPathComponent(".venv")
        return FileManager.default.isExecutableFile(atPath: venv.appendingPathComponent("bin/python").path) ? venv.path : nil
    }

    static var echoExecutable: String {
        repositoryRoot.appendingPathComponent(".build/debug/aios-echo").path
    }

    let dataDirectory: URL
    let process: Process
    let url: String
    /// The gRPC inference gateway's `host:port`.
    let grpcAddress: String
    private let logPath: URL

    /// The admin token `aios up` wrote into the data directory (`nil` with `--auth off`); every request sends it.
    private(set) var token: String?

    /// Starts `aios up` and waits (up to `timeout` seconds) for its `aios ready: URL` line.
    /// `arguments` are added to `aios up`'s own (e.g. `["--auth", "off"]`).
    init(dataDirectory: URL, arguments extra: [String] = [], timeout: TimeInterval = 60) throws {
        guard FileManager.default.isExecutableFile(atPath: Self.executable.path) else {
            throw XCTSkip("no aios executable at \(Self.executable.path); run `swift build` first (make test does)")
        }
        self.dataDirectory = dataDirectory
        try FileManager.default.createDirectory(at: dataDirectory, withIntermediateDirectories: true)
        logPath = dataDirectory.appendingPathComponent("aios-\(UUID().uuidString.prefix(8)).log")
        FileManager.default.createFile(atPath: logPath.path, contents: nil)

        process = Process()
        process.executableURL = Self.executable
        process.arguments = ["up", "--data-dir", dataDirectory.path, "--http-port", "0", "--grpc-port", "0", "--host", "127.0.0.1"]
            + (Self.pythonVirtualEnv.map { ["--python-venv", $0] } ?? []) + extra
        let stdout = Pipe()
        process.standardOutput = stdout
        process.standardError = try FileHandle(forWritingTo: logPath)
        process.standardInput = FileHandle.nullDevice

        let ready = ReadyLine()
        ready.watch(stdout)
        try process.run()
        guard let url = ready.wait(timeout: timeout) else {
            process.terminate()
            let log = (try? String(contentsOf: logPath, encoding: .utf8)) ?? ""
            throw PlatformError("aios up did not print its ready line within \(timeout) s; log:\n\(log)")
        }
        self.url = url
        self.grpcAddress = ready.grpcAddress ?? ""
        self.token = Self.adminToken(in: dataDirectory)
        if let token {
            // curl reads $CURL_HOME/.curlrc: the tests' curl commands (and AIOS's curl scripts, unchanged) send the token.
            let curlHome = dataDirectory.appendingPathComponent("curl-home")
            try FileManager.default.createDirectory(at: curlHome, withIntermediateDirectories: true)
            try Data("header = \"Authorization: Bearer \(token)\"\n".utf8).write(to: curlHome.appendingPathComponent(".curlrc"))
        }
    }

    /// The admin token file's content, if there is one.
    static func adminToken(in dataDirectory: URL) -> String? {
        (try? String(contentsOf: dataDirectory.appendingPathComponent("tokens/admin.token"), encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The environment that lets a command the tests run act with the admin token: `AIOS_TOKEN` for the CLI and
    /// the Python clients, `CURL_HOME` for curl.
    var auth: [String: String] {
        guard let token else { return [:] }
        return ["AIOS_TOKEN": token, "CURL_HOME": dataDirectory.appendingPathComponent("curl-home").path]
    }

    var log: String { (try? String(contentsOf: logPath, encoding: .utf8)) ?? "" }

    /// Sends `signal` and waits for the process to exit; returns its exit status.
    @discardableResult
    func stop(signal: Int32 = SIGTERM, timeout: TimeInterval = 30) -> Int32 {
        guard process.isRunning else { return process.terminationStatus }
        kill(process.processIdentifier, signal)
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            let killed = Date().addingTimeInterval(5)
            while process.isRunning && Date() < killed { usleep(20_000) }
            return -1
        }
        if signal == SIGTERM || signal == SIGINT { checkNoInstanceOutlivedIt() }
        return process.terminationStatus
    }

    /// After a graceful stop every instance must be gone (a third-party system an init program deployed is not an
    /// instance: it stays up with its block). One that is left is a defect of the platform: the test fails, and the
    /// process is killed so it cannot disturb later tests.
    private func checkNoInstanceOutlivedIt() {
        let left = InstanceProcesses.instances(dataDirectory: dataDirectory)
        guard !left.isEmpty else { return }
        XCTFail("aios up stopped gracefully but left instance processes running: \(left.map(InstanceProcesses.describe))")
        for pid in left { kill(-pid, SIGKILL); kill(pid, SIGKILL) }
    }

    /// A platform left running is stopped gracefully (so it stops its instances), and killed if it hangs.
    deinit {
        stop(signal: SIGTERM, timeout: 20)
    }

    /// Polls the block until `condition` holds (or `timeout` passes) and returns its last state.
    @discardableResult
    func waitForBlock(_ id: String, timeout: TimeInterval = 30, _ condition: (JSONValue) -> Bool) async throws -> JSONValue {
        let deadline = Date().addingTimeInterval(timeout)
        var last: JSONValue = .null
        while Date() < deadline {
            last = try await get("/api/blocks/\(id)").body
            if condition(last) { return last }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw PlatformError("block \(id) did not reach the expected state in \(timeout) s; last: \(last.jsonString(pretty: true))\nlog:\n\(log)")
    }

    func waitForPhase(_ id: String, _ phase: String, timeout: TimeInterval = 30) async throws -> JSONValue {
        try await waitForBlock(id, timeout: timeout) { $0["phase"]?.stringValue == phase }
    }

    // MARK: HTTP

    struct Reply {
        var status: Int
        var body: JSONValue
    }

    /// `token: .some(nil)` sends no token; `nil` (the default) sends the admin token.
    func get(_ path: String, token: String?? = nil, headers: [(String, String)] = []) async throws -> Reply {
        try await send(.GET, path, body: nil, contentType: nil, token: token, headers: headers)
    }

    func post(_ path: String, _ body: String, contentType: String = "application/json", token: String?? = nil,
              headers: [(String, String)] = []) async throws -> Reply {
        try await send(.POST, path, body: Data(body.utf8), contentType: contentType, token: token, headers: headers)
    }

    func post(_ path: String, json: JSONValue, token: String?? = nil, headers: [(String, String)] = []) async throws -> Reply {
        try await send(.POST, path, body: json.jsonData(), contentType: "application/json", token: token, headers: headers)
    }

    func delete(_ path: String, token: String?? = nil) async throws -> Reply {
        try await send(.DELETE, path, body: nil, contentType: nil, token: token, headers: [])
    }

    private func send(_ method: HTTPMethod, _ path: String, body: Data?, contentType: String?, token: String??,
                      headers: [(String, String)]) async throws -> Reply {
        var request = HTTPClientRequest(url: url + path)
        request.method = method
        if let bearer = token ?? self.token { request.headers.add(name: "Authorization", value: "Bearer \(bearer)") }
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body {
            request.body = .bytes(ByteBuffer(data: body))
            if let contentType { request.headers.add(name: "Content-Type", value: contentType) }
        }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        let bytes = try await response.body.collect(upTo: 16 * 1024 * 1024)
        let data = Data(buffer: bytes)
        guard let json = JSONValue.decodeJSON(data) else {
            throw PlatformError("\(method) \(path) answered \(response.status.code) with non-JSON: \(String(decoding: data, as: UTF8.self))")
        }
        return Reply(status: Int(response.status.code), body: json)
    }
}

struct PlatformError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Collects stdout until the line `PREFIX URL` (by default `aios ready: URL`) appears.
final class ReadyLine: @unchecked Sendable {
    private let prefix: String
    private let condition = NSCondition()
    private var buffer = ""
    private var url: String?
    private(set) var grpcAddress: String?
    private var finished = false

    init(prefix: String = "aios ready: ") {
        self.prefix = prefix
    }

    func append(_ data: Data) {
        condition.lock()
        buffer += String(decoding: data, as: UTF8.self)
        for line in buffer.split(separator: "\n") where line.hasPrefix(prefix) {
            url = String(line.dropFirst(prefix.count)).trimmingCharacters(in: .whitespaces)
        }
        for line in buffer.split(separator: "\n") where line.hasPrefix("aios gateway: grpc://") {
            grpcAddress = String(line.dropFirst("aios gateway: grpc://".count)).trimmingCharacters(in: .whitespaces)
        }
        if url != nil { finished = true }
        condition.broadcast()
        condition.unlock()
    }

    /// Reads `pipe` as the process writes to it, until it closes.
    func watch(_ pipe: Pipe) {
        pipe.fileHandleForReading.readabilityHandler = { [self] handle in
            let data = handle.availableData
            if data.isEmpty {
                handle.readabilityHandler = nil
                finish(nil)
            } else {
                append(data)
            }
        }
    }

    func finish(_ url: String?) {
        condition.lock()
        finished = true
        condition.broadcast()
        condition.unlock()
    }

    func wait(timeout: TimeInterval) -> String? {
        let deadline = Date().addingTimeInterval(timeout)
        condition.lock()
        defer { condition.unlock() }
        while !finished && condition.wait(until: deadline) {}
        return url
    }
}

/// A fresh temporary directory, removed by the test's teardown.
func temporaryDirectory(_ name: String) -> URL {
    FileManager.default.temporaryDirectory.appendingPathComponent("aios-it-\(name)-\(UUID().uuidString.prefix(8))")
}
