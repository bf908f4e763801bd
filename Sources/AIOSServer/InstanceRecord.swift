import AIOSModel
import Foundation

/// One instance as a block's `instances` list shows it, and what recovery needs after a crash of `aios up`
/// (its pid and the process's start time).
struct InstanceRecord: Sendable, Equatable {
    enum Phase: String, Sendable {
        /// Started, not yet answering `Health`.
        case starting = "Starting"
        case running = "Running"
        /// Exited; waiting out its backoff before the next start.
        case restarting = "Restarting"
        /// Exited too often in a short time; still retried, with the longest backoff.
        case crashLoop = "CrashLoop"
        case stopped = "Stopped"
    }

    var instanceId: String
    var nodeId: String
    var gpus: [String]
    var phase: Phase
    var healthy: Bool
    var pid: Int32?
    var startTime: UInt64?
    var address: String?
    var restarts: Int
    var lastExit: Int32?
    var logPath: String
    var message: String?

    init(placement: BlockPlacement.Instance, logPath: String) {
        instanceId = placement.instanceId
        nodeId = placement.nodeId
        gpus = placement.gpus
        phase = .starting
        healthy = false
        restarts = 0
        self.logPath = logPath
    }

    var json: JSONValue {
        var object: [String: JSONValue] = [
            "instanceId": .string(instanceId), "nodeId": .string(nodeId), "gpus": .array(gpus.map(JSONValue.string)),
            "phase": .string(phase.rawValue), "healthy": .bool(healthy), "restarts": .number(Double(restarts)),
            "logPath": .string(logPath),
        ]
        if let pid { object["pid"] = .number(Double(pid)) }
        if let startTime { object["processStartTime"] = .number(Double(startTime)) }
        if let address { object["address"] = .string(address) }
        if let lastExit { object["lastExitStatus"] = .number(Double(lastExit)) }
        if let message { object["message"] = .string(message) }
        return .object(object)
    }

    init?(json: JSONValue) {
        guard let id = json["instanceId"]?.stringValue, let nodeId = json["nodeId"]?.stringValue else { return nil }
        instanceId = id
        self.nodeId = nodeId
        gpus = json["gpus"]?.arrayValue?.compactMap(\.stringValue) ?? []
        phase = json["phase"]?.stringValue.flatMap(Phase.init(rawValue:)) ?? .stopped
        healthy = json["healthy"]?.boolValue ?? false
        pid = json["pid"]?.intValue.map(Int32.init)
        startTime = json["processStartTime"]?.numberValue.map { UInt64($0) }
        address = json["address"]?.stringValue
        restarts = json["restarts"]?.intValue ?? 0
        lastExit = json["lastExitStatus"]?.intValue.map(Int32.init)
        logPath = json["logPath"]?.stringValue ?? ""
        message = json["message"]?.stringValue
    }
}

extension BlockRecord {
    /// The block's phase and reason, derived from its instances (placement failures and deletion stay as they are).
    mutating func derivePhase(from instances: [InstanceRecord]) {
        guard phase != .deleting, phase != .failed else { return }
        let healthy = instances.filter(\.healthy).count
        if let looping = instances.first(where: { $0.phase == .crashLoop }) {
            phase = .degraded
            reason = "instance \(looping.instanceId) is crash-looping (last exit status \(looping.lastExit.map(String.init) ?? "?"), \(looping.restarts) restarts)"
                + (looping.message.map { ": \($0)" } ?? "")
        } else if healthy >= minInstances {
            phase = .ready
            reason = nil
        } else if phase == .ready || phase == .degraded {
            phase = .degraded
            reason = "\(healthy) of \(minInstances) required instances healthy"
                + (instances.first { !$0.healthy && $0.phase == .running && $0.message != nil }.map { "; \($0.instanceId): \($0.message ?? "")" } ?? "")
        } else {
            phase = .starting
            reason = nil
        }
    }
}
