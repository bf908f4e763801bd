/// A node is placed on only while its metrics are fresh: some have arrived, and the latest is no older than
/// the TTL. Rejecting a node skips the other filters (its free capacity is unknown).
public struct MetricsFreshnessFilter: NodeFilter {
    public let name = "metrics-fresh"
    public let skipsRestWhenRejecting = true

    public init() {}

    public func filter(_ node: NodeCandidate, request: ResourceRequest, state: PlacementState) -> FilterVerdict {
        guard let live = node.node.live else {
            return .reject("no metrics received from this node; it is not placed on until a collector reports (POST /api/nodeMetrics)")
        }
        guard live.ageSeconds <= state.ttl else {
            return .reject("metrics are \(Int(live.ageSeconds)) s old, older than the \(state.ttl.formatted) s TTL")
        }
        return .pass
    }
}
