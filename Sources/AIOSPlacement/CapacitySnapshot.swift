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
        /// The GPU's model (`NVIDIA H100 80GB HBM3`), from its metrics or the node document; `nil` when neither names it.
        public var modelName: String?

        public init(id: String, totalMemory: Double, freeMemory: Double, utilization: Double, modelName: String? = nil) {
            self.id = id
            self.totalMemory = totalMemory
            self.freeMemory = freeMemory
            self.utilization = utilization
            self.modelName = modelName
        }
    }

    public struct Live: Sendable, Equatable {
        public var ageSeconds: Double
        public var load15m: Double
        /// MB
        public var memoryFree: Double
        public var gpus: [GPU]
        /// No collector reports the node: these are its allocatable capacity (all free, idle), from which
        /// reservations are subtracted. The placement report says so.
        public var fromAllocatable: Bool

        public init(ageSeconds: Double, load15m: Double, memoryFree: Double, gpus: [GPU], fromAllocatable: Bool = false) {
            self.ageSeconds = ageSeconds
            self.load15m = load15m
            self.memoryFree = memoryFree
            self.gpus = gpus
            self.fromAllocatable = fromAllocatable
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
        /// The node document's `labels` (what `node_selector` matches).
        public var labels: [String: String]
        /// The model of each GPU the node document declares (`gpus.gpus[].modelName`, else `gpus.modelNames`).
        public var gpuModels: [String]
        /// Why nothing may be placed on it (a Kubernetes node NotReady, cordoned or tainted), when that is so.
        public var schedulingProblem: String?

        public init(id: String, vcpus: Double, memory: Double, declaredGPUs: Int, live: Live?,
                    labels: [String: String] = [:], gpuModels: [String] = [], schedulingProblem: String? = nil) {
            self.schedulingProblem = schedulingProblem
            self.id = id
            self.vcpus = vcpus
            self.memory = memory
            self.declaredGPUs = declaredGPUs
            self.live = live
            self.labels = labels
            self.gpuModels = gpuModels
        }
    }

    public struct Cluster: Sendable {
        public var id: String
        /// The cluster document `clusterQuery` runs on.
        public var document: JSONValue
        /// The cluster metrics document (fresh nodes only) `clusterMetricsQuery` runs on.
        public var metrics: JSONValue
        public var nodes: [Node]

        /// Nodes given without labels or GPU models take them from their entry in the document's
        /// `nodes.nodeData[]` (see ``Node/fillHardware(from:)``), so node selectors work on a snapshot
        /// built from the registry's cluster documents.
        public init(id: String, document: JSONValue, metrics: JSONValue, nodes: [Node]) {
            self.id = id
            self.document = document
            self.metrics = metrics
            self.nodes = Node.filled(nodes, from: document)
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
