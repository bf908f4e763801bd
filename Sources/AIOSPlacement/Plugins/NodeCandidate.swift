/// One node as the plugins see it while one instance is placed: its snapshot entry and what reservations
/// (earlier placements, and this decision's instances so far) hold on it.
public struct NodeCandidate: Sendable {
    public let node: CapacitySnapshot.Node
    /// CPUs reserved on the node.
    public let reservedCPUs: Double
    /// MB of memory reserved on the node.
    public let reservedMemory: Double
    /// Instances of the block being placed that the node already holds.
    public let blockInstances: Int
    /// Every GPU the node's metrics report (none without metrics), with what is reserved on it.
    public let gpus: [GPUCandidate]
    /// The GPUs that passed every GPU filter: those that count towards the request's `gpus`. Filled by the
    /// placer before the node filters run (empty when the request asks for no GPUs).
    public internal(set) var qualifyingGPUs: [GPUCandidate] = []
    /// Why each other GPU did not qualify, as `GPU <id>: <reason>`, in the order the node reports its GPUs.
    public internal(set) var gpuRejections: [String] = []
    /// For a node that passed every filter: the GPUs the instance would get (none for CPU work), as
    /// `selection_mode` picks them among the qualifying GPUs.
    public internal(set) var assignedGPUs: [CapacitySnapshot.GPU] = []
    /// For a node that passed every filter: MB left on its qualifying GPUs once the instance takes its share.
    public internal(set) var remainingGPUMemory: Double = 0

    public init(node: CapacitySnapshot.Node, reservedCPUs: Double = 0, reservedMemory: Double = 0, blockInstances: Int = 0,
                gpus: [GPUCandidate]? = nil) {
        self.node = node
        self.reservedCPUs = reservedCPUs
        self.reservedMemory = reservedMemory
        self.blockInstances = blockInstances
        self.gpus = gpus ?? (node.live?.gpus ?? []).map { GPUCandidate(gpu: $0, reserved: 0) }
    }

    public var id: String { node.id }

    /// CPUs not reserved (may be negative on an oversubscribed node).
    public var freeCPUs: Double { node.vcpus - reservedCPUs }

    /// Whether the node has GPUs, declared or reporting.
    public var hasGPUs: Bool { max(node.declaredGPUs, node.live?.gpus.count ?? 0) > 0 }
}

/// One GPU a node reports, with the memory reservations hold on it.
public struct GPUCandidate: Sendable {
    public let gpu: CapacitySnapshot.GPU
    /// MB reserved on the GPU.
    public let reserved: Double

    public init(gpu: CapacitySnapshot.GPU, reserved: Double) {
        self.gpu = gpu
        self.reserved = reserved
    }

    /// MB free after reservations: the lesser of what the metrics report free and the total less reservations
    /// (a reservation counts before the instance's use shows in the metrics).
    public var available: Double { min(gpu.freeMemory, gpu.totalMemory - reserved) }
}
