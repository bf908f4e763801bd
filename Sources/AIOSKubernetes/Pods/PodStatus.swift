import AIOSModel
import AIOSRuntime

/// What a Pod's status says about its instance's run: its phase, its container's state and the pod's reason
/// become an `InstanceState` (and, for an ending, the line the instance's log gets).
///
/// - `Pending` is `starting`; a container waiting for a reason worth telling (`ImagePullBackOff`, `ErrImagePull`,
///   `CreateContainerConfigError`, ...) is `waiting` with the reason and message.
/// - `Running` with a pod IP is `running` at `podIP:port`; a container in `CrashLoopBackOff` is `waiting`.
/// - `Succeeded` is an exit with status 0; `Failed` an exit with the container's exit code (`OOMKilled` named),
///   or, when the pod failed before its container ran or was evicted, `lost` with the pod's reason.
/// - `Unknown` (its node stopped reporting) is `lost`.
public enum PodStatus {
    /// The state and, when the run ended, a note for its log (`OOMKilled`, `Evicted: ...`).
    public struct Observation: Sendable, Equatable {
        public var state: InstanceState
        public var note: String?

        public init(_ state: InstanceState, note: String? = nil) {
            self.state = state
            self.note = note
        }
    }

    /// Waiting reasons that are not news (every pod passes through them).
    static let routineWaits: Set<String> = ["ContainerCreating", "PodInitializing"]

    public static func observe(_ pod: JSONValue, port: Int) -> Observation {
        let status = pod["status"]
        let phase = status?["phase"]?.stringValue ?? "Pending"
        let container = status?["containerStatuses"]?.arrayValue?.first
        let waiting = container?["state"]?["waiting"]
        let terminated = container?["state"]?["terminated"] ?? container?["lastState"]?["terminated"]
        let podReason = [status?["reason"]?.stringValue, status?["message"]?.stringValue].compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: ": ")

        let isDisrupted = pod["metadata"]?["deletionTimestamp"] != nil || disrupted(status)

        func waitingReason() -> String? {
            guard let reason = waiting?["reason"]?.stringValue, !routineWaits.contains(reason) else { return nil }
            let message = waiting?["message"]?.stringValue ?? ""
            return message.isEmpty ? reason : "\(reason): \(message)"
        }

        switch phase {
        case "Pending":
            if let reason = waitingReason() { return Observation(.waiting(reason: reason)) }
            if let unscheduled = status?["conditions"]?.arrayValue?.first(where: { $0["type"]?.stringValue == "PodScheduled" && $0["status"]?.stringValue == "False" }),
               let reason = unscheduled["reason"]?.stringValue {
                return Observation(.waiting(reason: "\(reason): \(unscheduled["message"]?.stringValue ?? "")"))
            }
            return Observation(.starting)
        case "Running":
            if let reason = waitingReason() { return Observation(.waiting(reason: reason)) }
            guard let ip = status?["podIP"]?.stringValue, !ip.isEmpty else { return Observation(.starting) }
            return Observation(.running(address: address(ip: ip, port: port)))
        case "Succeeded" where isDisrupted, "Failed" where isDisrupted:
            // Deleted or evicted from outside (a drain, preemption): not the program's failure, so no crash loop.
            let why = disruption(status) ?? (podReason.isEmpty ? "deleted" : podReason)
            return Observation(.lost(reason: "pod was deleted or evicted (\(why))"), note: "pod deleted or evicted: \(why)")
        case "Succeeded":
            return Observation(.exited(status: 0), note: "pod succeeded")
        case "Failed":
            if status?["reason"]?.stringValue == "Evicted" || terminated == nil {
                return Observation(.lost(reason: "pod failed" + (podReason.isEmpty ? "" : " (\(podReason))")), note: "pod failed: \(podReason.isEmpty ? "no reason given" : podReason)")
            }
            let code = Int32(clamping: terminated?["exitCode"]?.intValue ?? 1)
            let reason = terminated?["reason"]?.stringValue ?? ""
            let message = terminated?["message"]?.stringValue ?? ""
            let why = [reason, message].filter { !$0.isEmpty }.joined(separator: ": ")
            return Observation(.exited(status: code), note: "container terminated with exit code \(code)" + (why.isEmpty ? "" : " (\(why))"))
        default:
            return Observation(.lost(reason: "pod phase \(phase)" + (podReason.isEmpty ? "" : " (\(podReason))") + ": its node stopped reporting"),
                               note: "pod phase \(phase)")
        }
    }

    /// The `DisruptionTarget` condition's reason and message, when the pod was disrupted (evicted, preempted, drained).
    static func disruption(_ status: JSONValue?) -> String? {
        guard let condition = status?["conditions"]?.arrayValue?.first(where: { $0["type"]?.stringValue == "DisruptionTarget" && $0["status"]?.stringValue == "True" })
        else { return nil }
        return [condition["reason"]?.stringValue, condition["message"]?.stringValue].compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: ": ")
    }

    static func disrupted(_ status: JSONValue?) -> Bool { disruption(status) != nil }

    /// `host:port`, with an IPv6 address bracketed.
    static func address(ip: String, port: Int) -> String {
        ip.contains(":") ? "[\(ip)]:\(port)" : "\(ip):\(port)"
    }
}
