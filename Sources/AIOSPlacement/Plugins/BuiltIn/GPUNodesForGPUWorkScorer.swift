/// CPU-only work goes to nodes without GPUs first, keeping GPU nodes for GPU work: for a request of no GPUs a
/// node without GPUs scores 100 and one with GPUs 0; for GPU work every node scores 0.
///
/// Its weight (10) outweighs ``SelectionModeScorer`` (1) whole, so this preference comes first, as it always has.
public struct GPUNodesForGPUWorkScorer: NodeScorer {
    public let name = "gpu-nodes-for-gpu-work"
    public let weight: Double

    public init(weight: Double = 10) {
        self.weight = weight
    }

    public func scores(_ nodes: [NodeCandidate], request: ResourceRequest, state: PlacementState) -> [Double] {
        guard request.gpus == 0 else { return nodes.map { _ in NodeScore.worst } }
        return nodes.map { $0.hasGPUs ? NodeScore.worst : NodeScore.best }
    }
}
