import Foundation

/// One instance as a block's `instances` list shows it, and what recovery needs after a crash of `aios up`
/// (where its driver runs it: the pid and the process's start time for a process, the container or pod name
/// otherwise). Stored as JSON with these keys, so the API and older stores read the same.
public struct InstanceRecord: Sendable, Equatable, Codable {
    public enum Phase: String, Sendable, Codable, CaseIterable {
        /// Started, not yet answering `Health`.
        case starting = "Starting"
        case running = "Running"
        /// Exited; waiting out its backoff before the next start.
        case restarting = "Restarting"
        /// Exited too often in a short time; still retried, with the longest backoff.
        case crashLoop = "CrashLoop"
        case stopped = "Stopped"
    }

    public var instanceId: String
    public var nodeId: String
    public var gpus: [String]
    public var phase: Phase
    public var healthy: Bool
    /// The driver that runs it (`process`, `oci`, `simulated`, ...); `nil` in records of older stores.
    public var driver: String?
    public var pid: Int32?
    public var startTime: UInt64?
    /// The driver's own name for what runs the instance (a container or pod name), when it is not a process.
    public var runtimeName: String?
    public var address: String?
    public var restarts: Int
    public var lastExit: Int32?
    public var logPath: String
    public var message: String?

    public init(placement: BlockPlacement.Instance, logPath: String, driver: String? = nil) {
        instanceId = placement.instanceId
        nodeId = placement.nodeId
        gpus = placement.gpus
        phase = .starting
        healthy = false
        restarts = 0
        self.logPath = logPath
        self.driver = driver
    }

    enum CodingKeys: String, CodingKey {
        case instanceId, nodeId, gpus, phase, healthy, driver, pid
        case startTime = "processStartTime"
        case runtimeName, address, restarts
        case lastExit = "lastExitStatus"
        case logPath, message
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        instanceId = try container.decode(String.self, forKey: .instanceId)
        nodeId = try container.decode(String.self, forKey: .nodeId)
        gpus = try container.decodeIfPresent([String].self, forKey: .gpus) ?? []
        phase = (try? container.decodeIfPresent(Phase.self, forKey: .phase)) ?? .stopped
        healthy = try container.decodeIfPresent(Bool.self, forKey: .healthy) ?? false
        driver = try container.decodeIfPresent(String.self, forKey: .driver)
        pid = try container.decodeIfPresent(Int32.self, forKey: .pid)
        startTime = try container.decodeIfPresent(UInt64.self, forKey: .startTime)
        runtimeName = try container.decodeIfPresent(String.self, forKey: .runtimeName)
        address = try container.decodeIfPresent(String.self, forKey: .address)
        restarts = try container.decodeIfPresent(Int.self, forKey: .restarts) ?? 0
        lastExit = try container.decodeIfPresent(Int32.self, forKey: .lastExit)
        logPath = try container.decodeIfPresent(String.self, forKey: .logPath) ?? ""
        message = try container.decodeIfPresent(String.self, forKey: .message)
    }

    /// The record as the API shows it.
    public var json: JSONValue {
        (try? JSONValue(encoding: self)) ?? .null
    }
}

extension Array where Element == InstanceRecord {
    /// Applies `change` to the record of `instanceId`, if there is one.
    public mutating func update(_ instanceId: String, _ change: (inout InstanceRecord) -> Void) {
        if let index = firstIndex(where: { $0.instanceId == instanceId }) { change(&self[index]) }
    }
}

extension BlockRecord {
    /// The block's phase and reason, derived from its instances (placement failures and deletion stay as they are).
    public mutating func derivePhase() {
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
