import Foundation

/// Runs a short external command with a deadline and returns what it printed.
public enum CommandRunner {
    public struct Failure: Error, CustomStringConvertible {
        public var command: [String]
        public var reason: String
        public var description: String { "\(command.joined(separator: " ")): \(reason)" }
    }

    /// Runs `arguments` (looked up on `PATH`), killing it after `timeout` seconds, without holding a thread
    /// of the cooperative pool: the output is read on a thread of its own and the caller suspends until it
    /// is in, the command is killed, or the caller is cancelled (which kills the command too).
    public static func run(_ arguments: [String], timeout: Double) async throws -> String {
        let command = try RunningCommand(arguments)
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                command.wait(timeout: timeout) { continuation.resume(with: $0) }
            }
        } onCancel: {
            command.stop(reason: "cancelled")
        }
    }
}

/// One started command. Its output is read to the end on a thread of its own; the first of "output read
/// and the command exited", "timed out" and "killed" decides the result, which is delivered once.
private final class RunningCommand: @unchecked Sendable {
    typealias Delivery = @Sendable (Result<String, any Error>) -> Void

    private let arguments: [String]
    private let process = Process()
    private let output = Pipe()
    private let lock = NSLock()
    /// Who gets the result; set by `wait`.
    private var delivery: Delivery?
    private var delivered = false
    /// Why the command was killed before anyone waited for it.
    private var killedEarly: String?
    private var timer: DispatchWorkItem?

    init(_ arguments: [String]) throws {
        self.arguments = arguments
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            throw CommandRunner.Failure(command: arguments, reason: "cannot start: \(error)")
        }
    }

    /// Starts the reader thread and the timer; `delivery` gets the result exactly once.
    func wait(timeout: Double, _ delivery: @escaping Delivery) {
        let timer = DispatchWorkItem { [weak self] in self?.stop(reason: "timed out after \(timeout) s") }
        let killedEarly = lock.withLock {
            self.delivery = delivery
            self.timer = timer
            return self.killedEarly
        }
        if let killedEarly {
            finish(.failure(CommandRunner.Failure(command: arguments, reason: killedEarly)))
            return
        }
        let thread = Thread { [self] in
            let data = output.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            if process.terminationStatus == 0 {
                finish(.success(String(decoding: data, as: UTF8.self)))
            } else {
                finish(.failure(CommandRunner.Failure(command: arguments, reason: "exited with status \(process.terminationStatus)")))
            }
        }
        thread.name = "aios-command"
        thread.start()
        DispatchQueue.global().asyncAfter(deadline: .now() + timeout, execute: timer)
    }

    /// Kills the command, unless its result is already in, and fails the wait with `reason`.
    func stop(reason: String) {
        let waiting = lock.withLock { () -> Bool? in
            if delivered { return nil }
            if delivery == nil { killedEarly = killedEarly ?? reason }
            return delivery != nil
        }
        guard let waiting else { return }
        if process.isRunning {
            process.terminate()
            _ = kill(process.processIdentifier, SIGKILL)
        }
        if waiting { finish(.failure(CommandRunner.Failure(command: arguments, reason: reason))) }
    }

    private func finish(_ result: Result<String, any Error>) {
        let (deliver, timer) = lock.withLock { () -> (Delivery?, DispatchWorkItem?) in
            guard !delivered, let waiting = delivery else { return (nil, nil) }
            delivered = true
            delivery = nil
            return (waiting, self.timer)
        }
        timer?.cancel()
        deliver?(result)
    }
}
