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
        let finished = try await output(arguments, timeout: timeout)
        guard finished.status == 0 else {
            throw Failure(command: arguments, reason: "exited with status \(finished.status)")
        }
        return finished.standardOutput
    }

    /// What a command that ran to its end printed, and how it exited.
    public struct Finished: Sendable {
        public var status: Int32
        public var standardOutput: String
        /// Standard error, when it was asked for (at most its last 64 KiB); empty otherwise.
        public var standardError: String
    }

    /// Runs `arguments` like `run`, with `environment` when given (else the platform's), and returns the exit
    /// status with the output instead of failing on a non-zero status. `captureErrors` keeps standard error too.
    public static func output(_ arguments: [String], environment: [String: String]? = nil, captureErrors: Bool = false,
                              timeout: Double) async throws -> Finished {
        let command = try RunningCommand(arguments, environment: environment, captureErrors: captureErrors)
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
    typealias Delivery = @Sendable (Result<CommandRunner.Finished, any Error>) -> Void

    private let arguments: [String]
    private let process = Process()
    private let output = Pipe()
    private let errors: Pipe?
    private let lock = NSLock()
    /// Who gets the result; set by `wait`.
    private var delivery: Delivery?
    private var delivered = false
    /// Why the command was killed before anyone waited for it.
    private var killedEarly: String?
    /// Why the command was killed (a timeout, a cancellation): its exit is then that failure, not a status.
    private var stopReason: String?
    private var timer: DispatchWorkItem?

    init(_ arguments: [String], environment: [String: String]? = nil, captureErrors: Bool = false) throws {
        self.arguments = arguments
        self.errors = captureErrors ? Pipe() : nil
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        if let environment { process.environment = environment }
        process.standardOutput = output
        process.standardError = errors ?? FileHandle.nullDevice
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
        let errorText = ErrorTail()
        if let errors {
            let reader = Thread { errorText.read(errors.fileHandleForReading) }
            reader.name = "aios-command-stderr"
            reader.start()
        }
        let thread = Thread { [self] in
            let data = output.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            if let reason = lock.withLock({ stopReason }) {
                finish(.failure(CommandRunner.Failure(command: arguments, reason: reason)))
                return
            }
            finish(.success(CommandRunner.Finished(status: process.terminationStatus, standardOutput: String(decoding: data, as: UTF8.self),
                                                   standardError: errors == nil ? "" : errorText.text())))
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
        lock.withLock { stopReason = stopReason ?? reason }
        if process.isRunning {
            process.terminate()
            _ = kill(process.processIdentifier, SIGKILL)
        }
        if waiting { finish(.failure(CommandRunner.Failure(command: arguments, reason: reason))) }
    }

    private func finish(_ result: Result<CommandRunner.Finished, any Error>) {
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

/// The last 64 KiB a command wrote to standard error, read on a thread of its own until the pipe closes.
private final class ErrorTail: @unchecked Sendable {
    private static let limit = 64 * 1024
    private let lock = NSLock()
    private let done = DispatchSemaphore(value: 0)
    private var data = Data()

    func read(_ handle: FileHandle) {
        while true {
            let chunk = handle.availableData
            if chunk.isEmpty { break }
            lock.withLock {
                data.append(chunk)
                if data.count > Self.limit { data = data.suffix(Self.limit) }
            }
        }
        done.signal()
    }

    /// What was read, once the pipe is closed (at most a second after the command exits).
    func text() -> String {
        _ = done.wait(timeout: .now() + 1)
        return lock.withLock { String(decoding: data, as: UTF8.self) }
    }
}
