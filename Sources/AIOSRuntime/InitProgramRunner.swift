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
    public typealias Ending = ProgramEnding

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

/// Runs an init program as a job of its cluster's driver and hands each stage report to `onStage` as soon as
/// it is written.
public enum InitProgramRunner {
    public static func run(_ job: JobLaunch, on driver: any InstanceDriver,
                           onStage: @escaping @Sendable (InitStageReport) async -> Void) async -> InitRunOutcome {
        let stages = Mutex<[InitStageReport]>([])
        let ending = await driver.runJob(job) { line in
            guard let report = InitStageReport(line: line) else { return }
            stages.withLock { $0.append(report) }
            await onStage(report)
        }
        return InitRunOutcome(ending: ending, stages: stages.withLock { $0 })
    }
}
