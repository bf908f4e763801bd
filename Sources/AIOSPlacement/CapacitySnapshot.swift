import AIOSModel

/// What placement decides on: every cluster's document, its fresh-metrics document, and per node the
/// hardware and live state. Built once per decision; reservations are applied on top.
public struct CapacitySnapshot: Sendable {
    public struct GPU: Sendable, Equatable {
        public var id: String
        /// MB
        public var totalMemory: Double
        /// MB, as last reported
        public var freeMemory: Double
        /// percent
        public var utilization: Double

        public init(id: String, totalMemory: Double, freeMemory: Double, utilization: Double) {
            self.id = id
            self.totalMemory = totalMemory
            self.freeMemory = freeMemory
            self.utilization = utilization
        }
    }

    public struct Live: Sendable, Equatable {
        public var ageSeconds: Double
        public var load15m: Double
        /// MB
        public var memoryFree: Double
        public var gpus: [GPU]

        public init(ageSeconds: Double, load15m: Double, memoryFree: Double, gpus: [GPU]) {
            self.ageSeconds = ageSeconds
            self.load15m = load15m
            self.memoryFree = memoryFree
            self.gpus = gpus
        }
    }

    public struct Node: Sendable {
        public var id: String
        public var vcpus: Double
        /// MB
        public var memory: Double
        /// GPUs the node document declares (hardware), whether or not metrics report them.
        public var declaredGPUs: Int
        /// Latest metrics; `nil` when none ever arrived.
        public var live: Live?

        public init(id: String, vcpus: Double, memory: Double, declaredGPUs: Int, live: Live?) {
            self.id = id
            self.vcpus = vcpus
            self.memory = memory
            self.declaredGPUs = declaredGPUs
            self.live = live
        }
    }

    public struct Cluster: Sendable {
        public var id: String
        /// The cluster document `clusterQuery` runs on.
        public var document: JSONValue
        /// The cluster metrics document (fresh nodes only) `clusterMetricsQuery` runs on.
        public var metrics: JSONValue
        public var nodes: [Node]

        public init(id: String, document: JSONValue, metrics: JSONValue, nodes: [Node]) {
            self.id = id
            self.document = document
            self.metrics = metrics
            self.nodes = nodes
        }
    }

    public var clusters: [Cluster]
    /// Metrics older than this are stale: the node is not placed on.
    public var ttl: Double

    public init(clusters: [Cluster], ttl: Double) {
        self.clusters = clusters
        self.ttl = ttl
    }
}
