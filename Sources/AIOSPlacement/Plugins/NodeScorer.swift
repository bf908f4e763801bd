/// Ranks the nodes that passed every filter (kube-scheduler's Score with its NormalizeScore): each node gets
/// a score from 0 (worst) to 100 (best), and the placer picks the node with the highest weighted sum of its
/// scores (the lower node id on a tie).
///
/// A scorer sees all the feasible nodes at once, so it can score a node relative to the others (a rank, or
/// a share of the best); one that judges nodes one by one maps over them. Scores outside 0…100 are clamped
/// and a missing or NaN score counts as 0.
public protocol NodeScorer: Sendable {
    /// Short, stable, kebab-case: how the placement report names the scorer.
    var name: String { get }
    /// How much a point of this scorer counts in the total; 1 is the usual weight.
    var weight: Double { get }

    /// One score per node, in the order of `nodes`.
    func scores(_ nodes: [NodeCandidate], request: ResourceRequest, state: PlacementState) -> [Double]
}

/// The range a ``NodeScorer``'s scores are clamped to.
public enum NodeScore {
    public static let worst = 0.0
    public static let best = 100.0

    /// `score` clamped to worst…best; NaN counts as the worst.
    static func clamped(_ score: Double) -> Double {
        score.isNaN ? worst : min(max(score, worst), best)
    }
}
