import AIOSModel

/// Why a block was or was not placed: per cluster the failed conditions with the values seen, and per
/// node (and GPU) why it could not host an instance, with each placement plugin's verdict on it.
///
/// Clusters that could not host the block list their nodes as the instance that did not fit saw them; the
/// chosen cluster lists its nodes as the first instance saw them (the chosen node first, then the others
/// best score first). Each cluster lists at most ``Placer/reportedNodes`` nodes in detail, then one `…`
/// entry counting the rest and which filters rejected them.
public struct PlacementReport: Sendable, Equatable, Codable {
    public struct NodeVerdict: Sendable, Equatable, Codable {
        public var nodeId: String
        /// Why the node could not host the instance (every rejecting filter's reasons); empty when it could.
        public var reasons: [String]
        /// `rejected` (a filter said no), `feasible` (passed every filter, scored lower), `chosen`; absent on
        /// entries that stand for something else (`…`, `(this block)`).
        public var outcome: String?
        /// The weighted sum of the scorers' scores, for a node that passed every filter.
        public var score: Double?
        /// Each plugin's verdict, in the order they ran: GPU filters (when the request asks for GPUs), node
        /// filters, then scorers (for a node that passed every filter).
        public var plugins: [PluginVerdict]?

        public init(nodeId: String, reasons: [String], outcome: String? = nil, score: Double? = nil, plugins: [PluginVerdict]? = nil) {
            self.nodeId = nodeId
            self.reasons = reasons
            self.outcome = outcome
            self.score = score
            self.plugins = plugins
        }
    }

    /// One plugin's verdict on one node.
    public struct PluginVerdict: Sendable, Equatable, Codable {
        public var plugin: String
        /// `filter`, `gpu-filter` or `scorer`.
        public var kind: String
        /// Filters: `passed`, `rejected`, or `skipped` (an earlier filter's rejection made it moot). A GPU
        /// filter is `rejected` when it rejected any of the node's GPUs.
        public var verdict: String?
        /// A rejecting filter's reasons (a GPU filter's: one per GPU it rejected).
        public var reasons: [String]?
        /// Scorers: the node's score, 0–100, and the scorer's weight.
        public var score: Double?
        public var weight: Double?

        public init(plugin: String, kind: String, verdict: String? = nil, reasons: [String]? = nil, score: Double? = nil, weight: Double? = nil) {
            self.plugin = plugin
            self.kind = kind
            self.verdict = verdict
            self.reasons = reasons
            self.score = score
            self.weight = weight
        }
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
    /// What a custom policy chose that could not be taken (the built-in decided instead).
    public var notes: [String]?

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
