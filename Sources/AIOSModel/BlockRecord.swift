import Foundation

/// Where a block is in its life. Every transition is stored before it is acted on.
public enum BlockPhase: String, Sendable, Codable, CaseIterable {
    case pending = "Pending"
    case placing = "Placing"
    /// Placed; a third-party component's init program is deploying the system its instances link to.
    case initializing = "Initializing"
    case starting = "Starting"
    case ready = "Ready"
    case degraded = "Degraded"
    case failed = "Failed"
    case deleting = "Deleting"
}

/// One line of a block's history.
public struct BlockEvent: Sendable, Equatable, Codable {
    public var time: Date
    public var type: BlockEventType
    public var message: String

    public init(time: Date = Date(), type: BlockEventType, message: String) {
        self.time = time
        self.type = type
        self.message = message
    }
}

/// Where a block's instances are to run: the cluster, and per instance its node and GPU ids.
public struct BlockPlacement: Sendable, Equatable, Codable {
    public struct Instance: Sendable, Equatable, Codable {
        public var instanceId: String
        public var nodeId: String
        public var gpus: [String]

        public init(instanceId: String, nodeId: String, gpus: [String]) {
            self.instanceId = instanceId
            self.nodeId = nodeId
            self.gpus = gpus
        }
    }

    public var clusterId: String?
    public var instances: [Instance]

    public init(clusterId: String? = nil, instances: [Instance] = []) {
        self.clusterId = clusterId
        self.instances = instances
    }
}

/// A block: its desired state (spec, resolved configuration, instance bounds) and its observed state
/// (phase, reason, placement, instances).
public struct BlockRecord: Sendable, Equatable {
    public var blockId: String
    public var componentURI: ComponentURI
    public var spec: [String: JSONValue]
    public var resolved: ResolvedBlock
    public var minInstances: Int
    public var maxInstances: Int
    public var desiredInstances: Int
    public var phase: BlockPhase
    public var reason: String?
    public var placement: BlockPlacement
    /// Why the block was placed where it was, or why it could not be placed.
    public var placementReport: JSONValue
    /// Observed instances, kept by the runtime.
    public var instances: [InstanceRecord]
    public var createdAt: Date
    public var updatedAt: Date

    public init(spec: BlockSpec, resolved: ResolvedBlock, now: Date = Date()) {
        self.blockId = spec.blockId
        self.componentURI = spec.componentURI
        self.spec = spec.values
        self.resolved = resolved
        self.minInstances = spec.minInstances
        self.maxInstances = spec.maxInstances
        self.desiredInstances = spec.minInstances
        self.phase = .pending
        self.reason = nil
        self.placement = BlockPlacement()
        self.placementReport = .null
        self.instances = []
        self.createdAt = now
        self.updatedAt = now
    }

    public init(blockId: String, componentURI: ComponentURI, spec: [String: JSONValue], resolved: ResolvedBlock,
                minInstances: Int, maxInstances: Int, desiredInstances: Int, phase: BlockPhase, reason: String?,
                placement: BlockPlacement, placementReport: JSONValue = .null, instances: [InstanceRecord], createdAt: Date, updatedAt: Date) {
        self.blockId = blockId
        self.componentURI = componentURI
        self.spec = spec
        self.resolved = resolved
        self.minInstances = minInstances
        self.maxInstances = maxInstances
        self.desiredInstances = desiredInstances
        self.phase = phase
        self.reason = reason
        self.placement = placement
        self.placementReport = placementReport
        self.instances = instances
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

/// A change to a block decided against the current reservations, stored in one transaction:
/// the block's new state, the events that explain it, and the reservations it takes.
public struct BlockTransition: Sendable {
    public var block: BlockRecord
    public var events: [BlockEvent]
    /// Reservations to add.
    public var reservations: [Reservation]
    /// Instances whose reservations are released (scale-down).
    public var releasedInstances: [String]

    public init(block: BlockRecord, events: [BlockEvent], reservations: [Reservation] = [], releasedInstances: [String] = []) {
        self.block = block
        self.events = events
        self.reservations = reservations
        self.releasedInstances = releasedInstances
    }
}
