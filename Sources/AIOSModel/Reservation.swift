/// What one placed instance holds on its node: GPUs (memory per GPU) and CPUs and memory.
/// Stored with the placement in one transaction, and released when the instance goes.
public struct Reservation: Sendable, Equatable, Codable {
    public var blockId: String
    public var instanceId: String
    public var clusterId: String
    public var nodeId: String
    public var gpus: [String]
    /// MB reserved on each of `gpus`.
    public var gpuMemory: Double
    public var cpus: Double
    /// MB
    public var memory: Double

    public init(blockId: String, instanceId: String, clusterId: String, nodeId: String, gpus: [String], gpuMemory: Double, cpus: Double, memory: Double) {
        self.blockId = blockId
        self.instanceId = instanceId
        self.clusterId = clusterId
        self.nodeId = nodeId
        self.gpus = gpus
        self.gpuMemory = gpuMemory
        self.cpus = cpus
        self.memory = memory
    }
}
