/// `selection_mode`, as a rank among the feasible nodes (100 the first, 0 the last, equal nodes equal):
///
/// - `greedy` packs: most instances of this block already on the node, then the least capacity left after
///   this instance;
/// - `balanced` spreads: fewest instances of this block, then the most capacity left;
/// - `lightest-load`: the lowest load, then the most capacity left.
///
/// Capacity left is GPU memory on the node's qualifying GPUs for GPU work, free CPUs otherwise; load is the
/// assigned GPUs' mean utilisation for GPU work, the node's 15-minute load otherwise. A rank, not a
/// magnitude, so that these tie-breaks stay exact whatever the values.
public struct SelectionModeScorer: NodeScorer {
    public let name = "selection-mode"
    public let weight: Double

    public init(weight: Double = 1) {
        self.weight = weight
    }

    struct Key {
        var blockInstances: Int
        var remaining: Double
        var load: Double
    }

    public func scores(_ nodes: [NodeCandidate], request: ResourceRequest, state: PlacementState) -> [Double] {
        let keys = nodes.map { Self.key($0, request) }
        let order = keys.indices.sorted { Self.precedes(keys[$0], keys[$1], request.selectionMode) }
        // Dense ranks: nodes neither before the other share one.
        var ranks = Array(repeating: 0, count: keys.count)
        var rank = 0
        for (position, index) in order.enumerated() where position > 0 {
            if Self.precedes(keys[order[position - 1]], keys[index], request.selectionMode) { rank += 1 }
            ranks[index] = rank
        }
        guard rank > 0 else { return nodes.map { _ in NodeScore.best } }
        return ranks.map { NodeScore.best * Double(rank - $0) / Double(rank) }
    }

    static func key(_ node: NodeCandidate, _ request: ResourceRequest) -> Key {
        let wantsGPUs = request.gpus > 0
        let gpus = node.assignedGPUs
        let gpuLoad = gpus.isEmpty ? 0 : gpus.reduce(0) { $0 + $1.utilization } / Double(gpus.count)
        return Key(blockInstances: node.blockInstances,
                   remaining: wantsGPUs ? node.remainingGPUMemory : node.freeCPUs - request.cpus,
                   load: wantsGPUs ? gpuLoad : node.node.live?.load15m ?? 0)
    }

    static func precedes(_ a: Key, _ b: Key, _ mode: ResourceRequest.SelectionMode) -> Bool {
        switch mode {
        case .greedy:
            if a.blockInstances != b.blockInstances { return a.blockInstances > b.blockInstances }
            return a.remaining < b.remaining
        case .balanced:
            if a.blockInstances != b.blockInstances { return a.blockInstances < b.blockInstances }
            return a.remaining > b.remaining
        case .lightestLoad:
            if a.load != b.load { return a.load < b.load }
            return a.remaining > b.remaining
        }
    }
}
