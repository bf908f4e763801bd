import Foundation
import XCTest

/// A real llama.cpp OpenAI-compatible server serving SmolLM2-135M-Instruct, started through
/// `examples/llm-init/llama_server.py run` (which prints `LLAMA_SERVER_URL http://HOST:PORT` once it answers).
final class LlamaServer: @unchecked Sendable {
    let process: Process
    let url: String
    let port: Int
    private let logPath: URL

    /// Starts the server on `port` (0: a free one) and waits until it answers.
    init(port: Int = 0, timeout: TimeInterval = 120) throws {
        let python = Command.python
        _ = try Self.requireInstalled()
        logPath = temporaryDirectory("llama").appendingPathExtension("log")
        FileManager.default.createFile(atPath: logPath.path, contents: nil)
        process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [PlatformProcess.repositoryRoot.appendingPathComponent("examples/llm-init/llama_server.py").path,
                             "run", "--host", "127.0.0.1", "--port", String(port), "--log", logPath.path]
        let stdout = Pipe()
        process.standardOutput = stdout
        process.standardError = try FileHandle(forWritingTo: logPath)
        process.standardInput = FileHandle.nullDevice
        let ready = ReadyLine(prefix: "LLAMA_SERVER_URL ")
        ready.watch(stdout)
        try process.run()
        guard let url = ready.wait(timeout: timeout) else {
            process.terminate()
            throw PlatformError("the llama.cpp server did not answer within \(timeout) s; log:\n\((try? String(contentsOf: logPath, encoding: .utf8))?.suffix(2000) ?? "")")
        }
        self.url = url
        guard let colon = url.lastIndex(of: ":"), let port = Int(url[url.index(after: colon)...]) else {
            process.terminate()
            throw PlatformError("unexpected server URL \(url)")
        }
        self.port = port
    }

    /// Stops the server (the wrapper stops it on SIGTERM) and waits for it.
    func stop(timeout: TimeInterval = 20) {
        guard process.isRunning else { return }
        process.terminate()
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(at: logPath)
    }
}
