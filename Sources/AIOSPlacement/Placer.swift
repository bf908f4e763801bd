import AIOSModel
import AIOSQuery

/// What to place: `instances` of one block, where its cluster selection and resource request allow.
public struct PlacementRequest: Sendable {
    public var blockId: String
    public var instances: Int
    public var selection: ClusterSelection
    public var resources: ResourceRequest
    /// A custom clusterAllocator's selection: only these clusters (of those that pass the filters), in this
    /// order. `nil`: the built-in ranking.
    public var clusterOrder: [String]?
    /// A custom resourceAllocator's node and GPUs per instance on one cluster; each is checked against the
    /// filters and the ledger, and one that cannot be is left to the built-in (and noted in the report).
    public var nodeChoices: NodeChoices?

    public init(blockId: String, instances: Int, selection: ClusterSelection, resources: ResourceRequest) {
        self.blockId = blockId
        self.instances = instances
        self.selection = selection
        self.resources = resources
    }
}

/// Per instance (by index), the node and GPU ids a custom resourceAllocator chose on `clusterId`.
public struct NodeChoices: Sendable, Equatable {
    public struct Choice: Sendable, Equatable {
        public var node: String
        public var gpus: [String]

        public init(node: String, gpus: [String]) {
            self.node = node
            self.gpus = gpus
        }
    }

    public var clusterId: String
    public var policy: String
    public var choices: [Int: Choice]

    public init(clusterId: String, policy: String, choices: [Int: Choice]) {
        self.clusterId = clusterId
        self.policy = policy
        self.choices = choices
    }
}

public enum PlacementOutcome: Sendable {
    case placed(clusterId: String, reservations: [Reservation], report: PlacementReport)
    case unplaced(PlacementReport)
}

/// The two-level decision: clusters filtered and ranked, then nodes and GPUs fitted inside the first
/// candidate that can host every instance, by the node filters and scorers of a ``PlacementPlugins``. Pure: the caller supplies the snapshot and the reservations,
/// and stores the result (with its reservations) atomically.
public enum Placer {
    /// Reports list at most this many clusters.
    static let reportedClusters = 50
    /// Reports list at most this many nodes per cluster in detail (the rest are counted in one entry).
    public static let reportedNodes = 20

    /// Decides with `plugins` (the built-ins unless given): the node filters, GPU filters and scorers.
    public static func place(_ request: PlacementRequest, in snapshot: CapacitySnapshot, reservations: [Reservation],
                             plugins: PlacementPlugins = .builtIn, newInstanceId: () -> String) -> PlacementOutcome {
        var ledger = Ledger(reservations, blockId: request.blockId)
        var verdicts: [PlacementReport.ClusterVerdict] = []

        // 1. Filter clusters on their document and their live metrics. Why a cluster was rejected is
        //    worked out only when the report needs it (a placed block's report does not list rejections).
        var candidates: [(cluster: CapacitySnapshot.Cluster, freeGPU: Double, load: Double, freeMemory: Double)] = []
        var rejected: [CapacitySnapshot.Cluster] = []
        for cluster in snapshot.clusters {
            guard request.selection.clusterQuery.matches(cluster.document), metricsHold(request, cluster) else {
                rejected.append(cluster)
                continue
            }
            let summary = cluster.metrics["cluster"]
            let freeGPU = (summary?["gpu"]?["totalFreeMem"]?.numberValue ?? 0) - (ledger.clusterGPUMemory[cluster.id] ?? 0)
            let load = summary?["vcpu"]?["load15m"]?.numberValue ?? 0
            let freeMemory = summary?["memory"]?["freeMem"]?.numberValue ?? 0
            candidates.append((cluster, freeGPU, load, freeMemory))
        }

        // 2. Rank: most free GPU memory then lowest load for GPU work; lowest load then most free memory otherwise.
        let wantsGPUs = request.resources.gpus > 0
        candidates.sort { a, b in
            if wantsGPUs {
                if a.freeGPU != b.freeGPU { return a.freeGPU > b.freeGPU }
                if a.load != b.load { return a.load < b.load }
            } else {
                if a.load != b.load { return a.load < b.load }
                if a.freeMemory != b.freeMemory { return a.freeMemory > b.freeMemory }
            }
            return a.cluster.id < b.cluster.id
        }
        if let order = request.clusterOrder {
            let position = Dictionary(order.enumerated().map { ($1, $0) }, uniquingKeysWith: { first, _ in first })
            for candidate in candidates where position[candidate.cluster.id] == nil {
                verdicts.append(.init(clusterId: candidate.cluster.id, outcome: "not-selected", reasons: ["not selected by the clusterAllocator policy"], nodes: []))
            }
            candidates = candidates.filter { position[$0.cluster.id] != nil }.sorted { position[$0.cluster.id]! < position[$1.cluster.id]! }
        }
        let matched = candidates.count

        // 3. The first candidate whose nodes can host every instance wins.
        for (rank, candidate) in candidates.enumerated() {
            guard rank < request.selection.maxCandidates else {
                verdicts.append(.init(clusterId: candidate.cluster.id, outcome: "not-tried",
                                      reasons: ["ranked past max_candidates (\(request.selection.maxCandidates))"], nodes: []))
                continue
            }
            switch fit(request, into: candidate.cluster, ledger: ledger, ttl: snapshot.ttl, plugins: plugins, newInstanceId: newInstanceId) {
            case .placed(let placed, let nodes, let notes):
                for reservation in placed { ledger.add(reservation) }
                verdicts.append(.init(clusterId: candidate.cluster.id, outcome: "chosen", reasons: [], nodes: nodes))
                let summary = "placed \(placed.count) instance(s) on cluster \(candidate.cluster.id): "
                    + placed.map { "\($0.instanceId) → node \($0.nodeId)" + ($0.gpus.isEmpty ? "" : " GPUs \($0.gpus.joined(separator: ","))") }.joined(separator: "; ")
                    + " (\(matched) of \(snapshot.clusters.count) clusters \(request.clusterOrder == nil ? "matched the filters" : "selected by the clusterAllocator policy"), tried \(rank + 1))"
                    + allocatableNote(placed, in: candidate.cluster)
                var report = PlacementReport(summary: summary, clusters: trimmed(verdicts))
                if !notes.isEmpty { report.notes = notes }
                return .placed(clusterId: candidate.cluster.id, reservations: placed, report: report)
            case .failed(let nodes):
                verdicts.append(.init(clusterId: candidate.cluster.id, outcome: "no-fit",
                                      reasons: ["no way to fit \(request.instances) instance(s) on its nodes"], nodes: nodes))
            }
        }

        let summary = snapshot.clusters.isEmpty
            ? "no cluster is registered"
            : request.clusterOrder?.isEmpty == true
            ? "the clusterAllocator policy selected none of the \(snapshot.clusters.count - rejected.count) cluster(s) that passed the filters"
            : "no cluster can host \(request.instances) instance(s) of \(request.blockId): \(rejected.count) of \(snapshot.clusters.count) rejected by the filters, \(matched) matched but had no node that fits"
        for cluster in rejected.prefix(max(0, reportedClusters - verdicts.count)) {
            verdicts.append(.init(clusterId: cluster.id, outcome: "rejected", reasons: rejectionReasons(request, cluster, ttl: snapshot.ttl), nodes: []))
        }
        let omitted = snapshot.clusters.count - verdicts.count
        if omitted > 0 {
            verdicts.append(.init(clusterId: "…", outcome: "omitted", reasons: ["\(omitted) more clusters not listed"], nodes: []))
        }
        return .unplaced(PlacementReport(summary: summary, clusters: verdicts))
    }

    static func metricsHold(_ request: PlacementRequest, _ cluster: CapacitySnapshot.Cluster) -> Bool {
        guard let metricsQuery = request.selection.metricsQuery else { return true }
        return (cluster.metrics["freshNodes"]?.numberValue ?? 0) > 0 && metricsQuery.matches(cluster.metrics)
    }

    /// The failed conditions, with the values the cluster has.
    private static func rejectionReasons(_ request: PlacementRequest, _ cluster: CapacitySnapshot.Cluster, ttl: Double) -> [String] {
        var reasons = request.selection.clusterQuery.failures(cluster.document).map(\.description)
        if let metricsQuery = request.selection.metricsQuery {
            if (cluster.metrics["freshNodes"]?.numberValue ?? 0) == 0 {
                reasons.append("no node has reported metrics in the last \(ttl.formatted) s, so its metrics conditions cannot hold")
            } else {
                reasons += metricsQuery.failures(cluster.metrics).map(\.description)
            }
        }
        return reasons
    }

    private static func trimmed(_ verdicts: [PlacementReport.ClusterVerdict]) -> [PlacementReport.ClusterVerdict] {
        guard verdicts.count > reportedClusters else { return verdicts }
        var kept = Array(verdicts.prefix(reportedClusters))
        kept.append(.init(clusterId: "…", outcome: "omitted", reasons: ["\(verdicts.count - reportedClusters) more clusters not listed"], nodes: []))
        return kept
    }

    // MARK: Nodes and GPUs

    /// Places every instance inside `cluster`, or says per node why it could not. For each instance every
    /// node is run through the filters; the nodes that pass are scored and the best takes the instance.
    /// Where nodes were chosen on their allocatable capacity (no live metrics), the summary says so.
    static func allocatableNote(_ placed: [Reservation], in cluster: CapacitySnapshot.Cluster) -> String {
        let chosen = Set(placed.map(\.nodeId))
        let estimated = cluster.nodes.filter { chosen.contains($0.id) && $0.live?.fromAllocatable == true }.map(\.id)
        guard !estimated.isEmpty else { return "" }
        return "; no live metrics from node\(estimated.count == 1 ? "" : "s") \(estimated.sorted().joined(separator: ", ")): placed on allocatable capacity minus reservations"
            + (placed.contains { !$0.gpus.isEmpty } ? " (GPU ids are ledger slots: the device plugin picks the GPUs)" : "")
    }

    static func fit(_ request: PlacementRequest, into cluster: CapacitySnapshot.Cluster, ledger: Ledger, ttl: Double,
                    plugins: PlacementPlugins, newInstanceId: () -> String) -> ClusterFit {
        var ledger = ledger
        var placed: [Reservation] = []
        var firstInstance: [NodeEvaluation] = []
        var notes: [String] = []
        let choices = request.nodeChoices?.clusterId == cluster.id ? request.nodeChoices : nil
        for instance in 0..<request.instances {
            let state = PlacementState(clusterId: cluster.id, blockId: request.blockId, instance: instance, instances: request.instances, ttl: ttl)
            var evaluations = cluster.nodes.map {
                NodeEvaluation($0, request: request.resources, ledger: ledger, state: state, plugins: plugins)
            }
            let feasible = evaluations.indices.filter { evaluations[$0].passed }
            guard !feasible.isEmpty else {
                var verdicts = PlacementReport.nodeVerdicts(evaluations, plugins: plugins, limit: reportedNodes)
                if !placed.isEmpty {
                    verdicts.insert(.init(nodeId: "(this block)", reasons: ["\(placed.count) of \(request.instances) instances fitted before capacity ran out"]), at: 0)
                }
                return .failed(verdicts)
            }
            NodeEvaluation.score(&evaluations, feasible: feasible, request: request.resources, state: state, plugins: plugins)
            var bestIndex = feasible.min { a, b in
                let x = evaluations[a], y = evaluations[b]
                return x.total != y.total ? x.total > y.total : x.candidate.id < y.candidate.id
            }!
            if let choices, let choice = choices.choices[instance] {
                switch Self.check(choice, in: evaluations, request: request.resources) {
                case .success(let (index, gpus)):
                    bestIndex = index
                    if request.resources.gpus > 0 { evaluations[index].candidate.assignedGPUs = gpus }
                case .failure(let problem):
                    notes.append("resourceAllocator policy \(choices.policy), instance \(instance): \(problem); the built-in chose node \(evaluations[bestIndex].candidate.id)")
                }
            }
            evaluations[bestIndex].chosen = true
            let best = evaluations[bestIndex].candidate
            let reservation = Reservation(
                blockId: request.blockId, instanceId: newInstanceId(), clusterId: cluster.id, nodeId: best.id,
                gpus: best.assignedGPUs.map(\.id),
                gpuMemory: best.assignedGPUs.first.map { request.resources.gpuReservation(totalMemory: $0.totalMemory) } ?? 0,
                cpus: request.resources.cpus, memory: request.resources.memory)
            ledger.add(reservation)
            placed.append(reservation)
            if instance == 0 { firstInstance = evaluations }
        }
        // The chosen node first, then the other feasible ones best first, then the rejected ones.
        let ordered = firstInstance.enumerated().sorted { a, b in
            let x = a.element, y = b.element
            if x.chosen != y.chosen { return x.chosen }
            if x.passed != y.passed { return x.passed }
            if x.passed && x.total != y.total { return x.total > y.total }
            return a.offset < b.offset
        }.map(\.element)
        return .placed(placed, nodes: PlacementReport.nodeVerdicts(ordered, plugins: plugins, limit: reportedNodes), notes: notes)
    }

    /// A custom policy's node and GPUs, if the filters and the ledger allow them: the node must have passed
    /// every filter for this instance, and the GPUs must be as many as asked, each one that qualified
    /// (free enough after reservations, of the wanted model, ...).
    static func check(_ choice: NodeChoices.Choice, in evaluations: [NodeEvaluation], request: ResourceRequest)
        -> Result<(Int, [CapacitySnapshot.GPU]), PlacementChoiceProblem> {
        guard let index = evaluations.firstIndex(where: { $0.candidate.id == choice.node }) else {
            return .failure(PlacementChoiceProblem(description: "node_id \"\(choice.node.prefix(80))\" is not a node of the cluster"))
        }
        let evaluation = evaluations[index]
        guard evaluation.passed else {
            return .failure(PlacementChoiceProblem(description: "node_id \(choice.node) cannot host the instance: \(evaluation.reasons.joined(separator: "; "))"))
        }
        guard request.gpus > 0 else {
            return choice.gpus.isEmpty ? .success((index, [])) : .failure(PlacementChoiceProblem(description: "gpus \(choice.gpus) given but the block asks for none"))
        }
        guard Set(choice.gpus).count == request.gpus, choice.gpus.count == request.gpus else {
            return .failure(PlacementChoiceProblem(description: "gpus \(choice.gpus) must name \(request.gpus) distinct GPU(s)"))
        }
        var gpus: [CapacitySnapshot.GPU] = []
        for id in choice.gpus {
            guard let gpu = evaluation.candidate.qualifyingGPUs.first(where: { $0.gpu.id == id }) else {
                let why = evaluation.candidate.gpuRejections.first { $0.hasPrefix("GPU \(id):") } ?? "GPU \(id) is not a GPU of node \(choice.node)"
                return .failure(PlacementChoiceProblem(description: "gpus: \(why)"))
            }
            gpus.append(gpu.gpu)
        }
        return .success((index, gpus))
    }

    enum ClusterFit {
        case placed([Reservation], nodes: [PlacementReport.NodeVerdict], notes: [String])
        case failed([PlacementReport.NodeVerdict])
    }
}

/// Why a custom resourceAllocator's choice was not taken.
struct PlacementChoiceProblem: Error, CustomStringConvertible {
    var description: String
}
