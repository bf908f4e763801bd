import AIOSModel

/// Why a block was or was not placed: per cluster the failed conditions with the values seen, and per
/// node (and GPU) why it could not host an instance.
public struct PlacementReport: Sendable, Equatable, Codable {
    public struct NodeVerdict: Sendable, Equatable, Codable {
        public var nodeId: String
        public var reasons: [String]
    }

    public struct ClusterVerdict: Sendable, Equatable, Codable {
        public var clusterId: String
        /// `rejected` (filters), `no-fit` (nodes could not host the instances), `chosen`, `not-tried` (ranked below the winner or past max_candidates).
        public var outcome: String
        public var reasons: [String]
        public var nodes: [NodeVerdict]
    }

    public var summary: String
    public var clusters: [ClusterVerdict]

    public init(summary: String = "", clusters: [ClusterVerdict] = []) {
        self.summary = summary
        self.clusters = clusters
    }

    public var json: JSONValue {
        (try? JSONValue(encoding: self)) ?? .null
    }

    /// Human-readable lines, as `aios describe` and events show them.
    public var lines: [String] {
        var lines = [summary]
        for cluster in clusters where cluster.outcome != "chosen" {
            lines.append("cluster \(cluster.clusterId): \(cluster.outcome)")
            lines += cluster.reasons.map { "  - \($0)" }
            for node in cluster.nodes {
                lines.append("  node \(node.nodeId):")
                lines += node.reasons.map { "    - \($0)" }
            }
        }
        return lines
    }
}
