import AIOSModel

/// Reservations summed per node and per GPU, so a decision sees what earlier placements hold even before
/// their instances show up in the metrics.
struct Ledger {
    struct NodeKey: Hashable {
        var cluster: String
        var node: String
    }

    struct GPUKey: Hashable {
        var node: NodeKey
        var gpu: String
    }

    private(set) var cpus: [NodeKey: Double] = [:]
    private(set) var memory: [NodeKey: Double] = [:]
    private(set) var gpuMemory: [GPUKey: Double] = [:]
    private(set) var clusterGPUMemory: [String: Double] = [:]
    /// Instances of the block being placed, per node (for spreading or packing).
    private(set) var blockInstances: [NodeKey: Int] = [:]
    let blockId: String

    init(_ reservations: [Reservation], blockId: String) {
        self.blockId = blockId
        for reservation in reservations { add(reservation) }
    }

    mutating func add(_ reservation: Reservation) {
        let node = NodeKey(cluster: reservation.clusterId, node: reservation.nodeId)
        cpus[node, default: 0] += reservation.cpus
        memory[node, default: 0] += reservation.memory
        for gpu in reservation.gpus {
            gpuMemory[GPUKey(node: node, gpu: gpu), default: 0] += reservation.gpuMemory
        }
        clusterGPUMemory[reservation.clusterId, default: 0] += reservation.gpuMemory * Double(reservation.gpus.count)
        if reservation.blockId == blockId { blockInstances[node, default: 0] += 1 }
    }
}
