import Foundation

/// Runs a short external command with a deadline and returns what it printed.
public enum CommandRunner {
    public struct Failure: Error, CustomStringConvertible {
        public var command: [String]
        public var reason: String
        public var description: String { "\(command.joined(separator: " ")): \(reason)" }
    }

    /// Runs `arguments` (looked up on `PATH`), killing it after `timeout` seconds.
    public static func run(_ arguments: [String], timeout: Double) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            throw Failure(command: arguments, reason: "cannot start: \(error)")
        }
        let deadline = DispatchTime.now() + timeout
        let finished = DispatchSemaphore(value: 0)
        let collected = OutputCollector()
        DispatchQueue.global().async {
            collected.data = output.fileHandleForReading.readDataToEndOfFile()
            finished.signal()
        }
        if finished.wait(timeout: deadline) == .timedOut {
            process.terminate()
            kill(process.processIdentifier, SIGKILL)
            throw Failure(command: arguments, reason: "timed out after \(timeout) s")
        }
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw Failure(command: arguments, reason: "exited with status \(process.terminationStatus)")
        }
        return String(decoding: collected.data, as: UTF8.self)
    }

    private final class OutputCollector: @unchecked Sendable {
        var data = Data()
    }
}
