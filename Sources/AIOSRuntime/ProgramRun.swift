#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Synchronization

/// How a program run by `ProgramRun` ended.
public enum ProgramEnding: Sendable, Equatable {
    case exited(Int32)
    case timedOut(seconds: Double)
    case cancelled
    case notStarted(String)
}

/// Runs a program that reports to the platform with lines on its output (init programs, splitters): a process
/// in a session of its own, its output appended to a log file, whose complete lines are handed to `onLine` as
/// they are written. A run that outlives its timeout, or whose task is cancelled, gets SIGTERM (so the
/// program's `finally` blocks run), then SIGKILL after `grace`. Processes the program leaves in its group are
/// killed when it exits; a system it deploys must run in a session of its own.
public enum ProgramRun {
    public static func run(
        command: [String], cwd: String, environment: [String: String], logPath: String,
        timeout: Double, grace: Double = 5,
        onSpawn: @Sendable (ChildProcess) -> Void = { _ in },
        onLine: @escaping @Sendable (Substring) async -> Void
    ) async -> ProgramEnding {
        // Stopped before it began: start nothing.
        if Task.isCancelled { return .cancelled }
        let startOffset = (try? FileManager.default.attributesOfItem(atPath: logPath)[.size] as? NSNumber)?.uint64Value ?? 0
        let child: ChildProcess
        do {
            let spawned = try ProcessSpawner.spawn(command, cwd: cwd, environment: environment, logPath: logPath)
            child = ChildProcess(pid: spawned.pid, startTime: spawned.startTime)
            onSpawn(child)
        } catch {
            return .notStarted(String(describing: error))
        }
        let exitStatus = Mutex<Int32?>(nil)
        Task.detached {
            let status = await child.waitForExit()
            exitStatus.withLock { $0 = status }
        }
        var reader = LogLineReader(path: logPath, offset: startOffset)
        let deadline = ContinuousClock.now + .milliseconds(Int64(exactly: (timeout * 1000).rounded(.towardZero)) ?? .max)
        var stopping: (ending: ProgramEnding, killAt: ContinuousClock.Instant)?
        while true {
            let exited = exitStatus.withLock { $0 }
            for line in reader.readNewLines() {
                await onLine(line)
            }
            if let exited {
                return stopping?.ending ?? .exited(exited)
            }
            let now = ContinuousClock.now
            if stopping == nil, Task.isCancelled || now >= deadline {
                stopping = (Task.isCancelled ? .cancelled : .timedOut(seconds: timeout), now + .milliseconds(Int64(grace * 1000)))
                child.signalGroup(SIGTERM)
            } else if let stop = stopping, now >= stop.killAt {
                child.signalGroup(SIGKILL)
            }
            // Not `Task.sleep`: it returns at once in a cancelled task, and this loop must outlive cancellation.
            await withCheckedContinuation { continuation in
                DispatchQueue.global().asyncAfter(deadline: .now() + 0.1) { continuation.resume() }
            }
        }
    }
}

/// Reads the complete lines appended to a log file since `offset`.
struct LogLineReader {
    let path: String
    var offset: UInt64
    private var partial = Data()
    static let longestLine = 1 << 20

    init(path: String, offset: UInt64) {
        self.path = path
        self.offset = offset
    }

    mutating func readNewLines() -> [Substring] {
        guard let handle = FileHandle(forReadingAtPath: path) else { return [] }
        defer { try? handle.close() }
        do {
            try handle.seek(toOffset: offset)
            guard let data = try handle.readToEnd(), !data.isEmpty else { return [] }
            offset += UInt64(data.count)
            partial.append(data)
        } catch {
            return []
        }
        guard let lastNewline = partial.lastIndex(of: UInt8(ascii: "\n")) else {
            // A line this long is not a report; do not hold on to it.
            if partial.count > Self.longestLine { partial = Data() }
            return []
        }
        let complete = partial[partial.startIndex...lastNewline]
        partial = Data(partial[partial.index(after: lastNewline)...])
        return String(decoding: complete, as: UTF8.self).split(separator: "\n")
    }
}
