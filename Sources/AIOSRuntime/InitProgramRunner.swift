#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import AIOSModel
import Foundation
import Synchronization

/// One stage an init program reported: a stdout line `AIOS_INIT_STAGE {"stage","ok","payload","message"}`
/// (the contract of `python/aios_init`).
public struct InitStageReport: Sendable, Equatable {
    public static let linePrefix = "AIOS_INIT_STAGE "

    public var stage: String
    public var ok: Bool
    public var payload: JSONValue
    public var message: String

    public init(stage: String, ok: Bool, payload: JSONValue = .null, message: String = "") {
        self.stage = stage
        self.ok = ok
        self.payload = payload
        self.message = message
    }

    /// The report on `line`, or `nil` when the line is other output of the program.
    public init?(line: Substring) {
        guard let start = line.range(of: Self.linePrefix)?.upperBound,
              case .object(let fields)? = JSONValue.decodeJSON(Data(line[start...].utf8)),
              let stage = fields["stage"]?.stringValue, let ok = fields["ok"]?.boolValue else { return nil }
        self.init(stage: stage, ok: ok, payload: fields["payload"] ?? .null, message: fields["message"]?.stringValue ?? "")
    }
}

/// How one run of an init program ended.
public struct InitRunOutcome: Sendable, Equatable {
    public enum Ending: Sendable, Equatable {
        case exited(Int32)
        case timedOut(seconds: Double)
        case cancelled
        case notStarted(String)
    }

    public var ending: Ending
    public var stages: [InitStageReport]

    public init(ending: Ending, stages: [InitStageReport]) {
        self.ending = ending
        self.stages = stages
    }

    /// All three stages ok and a clean exit.
    public var succeeded: Bool {
        ending == .exited(0) && stages.contains { $0.stage == "finish" && $0.ok } && stages.allSatisfy(\.ok)
    }

    /// What `finish` returned (create mode: the third-party system's endpoints).
    public var finishPayload: JSONValue? {
        stages.last { $0.stage == "finish" && $0.ok }?.payload
    }

    /// Why the run failed, in words: the failing stage and its message first, then how the process ended.
    public var failure: String? {
        guard !succeeded else { return nil }
        var parts: [String] = []
        if let failed = stages.first(where: { !$0.ok }) {
            parts.append("stage \(failed.stage) failed: \(failed.message.isEmpty ? "(no message)" : failed.message)")
        }
        switch ending {
        case .exited(let status):
            if parts.isEmpty {
                let reported = stages.map(\.stage).joined(separator: ", ")
                parts.append("the program exited with status \(status) after reporting " + (reported.isEmpty ? "no stage" : "stages \(reported)")
                             + (status == 0 ? " (all of begin, main and finish must report ok)" : ""))
            } else if status != 1 {
                parts.append("exit status \(status)")
            }
        case .timedOut(let seconds):
            parts.append("it did not finish within \(seconds.formatted) s and was stopped")
        case .cancelled:
            parts.append("it was stopped because the block is being removed")
        case .notStarted(let reason):
            parts.append("it could not start: \(reason)")
        }
        return parts.joined(separator: "; ")
    }
}

/// Runs an init program as a process in a session of its own, with its output appended to a log file.
/// Stage reports are read from that log as they are written and handed to `onStage` at once. A run that
/// outlives its timeout, or whose task is cancelled, gets SIGTERM (so the program's `finally` blocks run),
/// then SIGKILL after `grace`. Processes the program leaves in its group are killed when it exits; a
/// system it deploys must run in a session of its own (e.g. Python's `start_new_session=True`).
public enum InitProgramRunner {
    public static func run(
        command: [String], cwd: String, environment: [String: String], logPath: String,
        timeout: Double, grace: Double = 5,
        onSpawn: @Sendable (ChildProcess) -> Void = { _ in },
        onStage: @escaping @Sendable (InitStageReport) async -> Void
    ) async -> InitRunOutcome {
        // Stopped before it began: start nothing.
        if Task.isCancelled { return InitRunOutcome(ending: .cancelled, stages: []) }
        let startOffset = (try? FileManager.default.attributesOfItem(atPath: logPath)[.size] as? NSNumber)?.uint64Value ?? 0
        let child: ChildProcess
        do {
            let spawned = try ProcessSpawner.spawn(command, cwd: cwd, environment: environment, logPath: logPath)
            child = ChildProcess(pid: spawned.pid, startTime: spawned.startTime)
            onSpawn(child)
        } catch {
            return InitRunOutcome(ending: .notStarted(String(describing: error)), stages: [])
        }
        let exitStatus = Mutex<Int32?>(nil)
        Task.detached {
            let status = await child.waitForExit()
            exitStatus.withLock { $0 = status }
        }
        var reader = StageLogReader(path: logPath, offset: startOffset)
        var stages: [InitStageReport] = []
        let deadline = ContinuousClock.now + .milliseconds(Int64(timeout * 1000))
        var stopping: (ending: InitRunOutcome.Ending, killAt: ContinuousClock.Instant)?
        while true {
            let exited = exitStatus.withLock { $0 }
            for report in reader.readNewReports() {
                stages.append(report)
                await onStage(report)
            }
            if let exited {
                return InitRunOutcome(ending: stopping?.ending ?? .exited(exited), stages: stages)
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

/// Reads complete lines appended to a log file since `offset` and keeps the stage reports among them.
struct StageLogReader {
    let path: String
    var offset: UInt64
    private var partial = Data()
    static let longestLine = 1 << 20

    init(path: String, offset: UInt64) {
        self.path = path
        self.offset = offset
    }

    mutating func readNewReports() -> [InitStageReport] {
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
            // Output without line breaks is not a report; do not hold on to it.
            if partial.count > Self.longestLine { partial = Data() }
            return []
        }
        let complete = partial[partial.startIndex...lastNewline]
        partial = Data(partial[partial.index(after: lastNewline)...])
        return String(decoding: complete, as: UTF8.self).split(separator: "\n").compactMap(InitStageReport.init(line:))
    }
}
