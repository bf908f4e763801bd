import Foundation

/// Runs programs the tests drive (the CLI, curl, Python clients) to completion.
enum Command {
    struct Run {
        var status: Int32
        var stdout: String
        var stderr: String

        /// Each stdout line parsed as JSON (for the clients that print one JSON line per call).
        var jsonLines: [[String: Any]] {
            stdout.split(separator: "\n").compactMap {
                (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any]
            }
        }
    }

    /// Runs `arguments` (through `/usr/bin/env`, from the repository root), killed after `timeout` seconds.
    static func run(_ arguments: [String], environment: [String: String] = [:], timeout: TimeInterval = 60) throws -> Run {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        process.currentDirectoryURL = PlatformProcess.repositoryRoot
        let directory = temporaryDirectory("run")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let outPath = directory.appendingPathComponent("out"), errPath = directory.appendingPathComponent("err")
        FileManager.default.createFile(atPath: outPath.path, contents: nil)
        FileManager.default.createFile(atPath: errPath.path, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: outPath)
        process.standardError = try FileHandle(forWritingTo: errPath)
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
            throw PlatformError("\(arguments.joined(separator: " ")) ran past \(timeout) s")
        }
        return Run(status: process.terminationStatus,
                   stdout: (try? String(contentsOf: outPath, encoding: .utf8)) ?? "",
                   stderr: (try? String(contentsOf: errPath, encoding: .utf8)) ?? "")
    }

    /// The repository's virtualenv Python (made by `make test`).
    static var python: String {
        PlatformProcess.repositoryRoot.appendingPathComponent(".venv/bin/python").path
    }

    static func client(_ script: String) -> String {
        PlatformProcess.repositoryRoot.appendingPathComponent("Tests/clients/\(script)").path
    }
}
