import AIOSModel
import AIOSQuery

/// What to place: `instances` of one block, where its cluster selection and resource request allow.
public struct PlacementRequest: Sendable {
    public var blockId: String
    public var instances: Int
    public var selection: ClusterSelection
    public var resources: ResourceRequest

    public init(blockId: String, instances: Int, selection: ClusterSelection, resources: ResourceRequest) {
        self.blockId = blockId
        self.instances = instances
        self.selection = selection
        self.resources = resources
    }
}

public enum PlacementOutcome: Sendable {
    case placed(clusterId: String, reservations: [Reservation], report: PlacementReport)
    case unplaced(PlacementReport)
}

/// The two-level decision: clusters filtered and ranked, then nodes and GPUs fitted inside the first
/// candidate that can host every instance. Pure: the caller supplies the snapshot and the reservations,
/// and stores the result (with its reservations) atomically.
public enum Placer {
    /// Reports list at most this many clusters.
    static let reportedClusters = 50

    public static func place(_ request: PlacementRequest, in snapshot: CapacitySnapshot, reservations: [Reservation],
                             newInstanceId: () -> String) -> PlacementOutcome {
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
        let matched = candidates.count

        // 3. The first candidate whose nodes can host every instance wins.
        for (rank, candidate) in candidates.enumerated() {
            guard rank < request.selection.maxCandidates else {
                verdicts.append(.init(clusterId: candidate.cluster.id, outcome: "not-tried",
                                      reasons: ["ranked past max_candidates (\(request.selection.maxCandidates))"], nodes: []))
                continue
            }
            switch fit(request, into: candidate.cluster, ledger: ledger, ttl: snapshot.ttl, newInstanceId: newInstanceId) {
            case .placed(let placed):
                for reservation in placed { ledger.add(reservation) }
                verdicts.append(.init(clusterId: candidate.cluster.id, outcome: "chosen", reasons: [], nodes: []))
                let summary = "placed \(placed.count) instance(s) on cluster \(candidate.cluster.id): "
                    + placed.map { "\($0.instanceId) → node \($0.nodeId)" + ($0.gpus.isEmpty ? "" : " GPUs \($0.gpus.joined(separator: ","))") }.joined(separator: "; ")
                    + " (\(matched) of \(snapshot.clusters.count) clusters matched the filters, tried \(rank + 1))"
                return .placed(clusterId: candidate.cluster.id, reservations: placed,
                               report: PlacementReport(summary: summary, clusters: trimmed(verdicts)))
            case .failed(let nodes):
                verdicts.append(.init(clusterId: candidate.cluster.id, outcome: "no-fit",
                                      reasons: ["no way to fit \(request.instances) instance(s) on its nodes"], nodes: nodes))
            }
        }

        let summary = snapshot.clusters.isEmpty
            ? "no cluster is registered"
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

    private static func metricsHold(_ request: PlacementRequest, _ cluster: CapacitySnapshot.Cluster) -> Bool {
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

    /// Places every instance inside `cluster`, or says per node why it could not.
    static func fit(_ request: PlacementRequest, into cluster: CapacitySnapshot.Cluster, ledger: Ledger, ttl: Double,
                    newInstanceId: () -> String) -> ClusterFit {
        var ledger = ledger
        var placed: [Reservation] = []
        for _ in 0..<request.instances {
            var options: [(node: CapacitySnapshot.Node, gpus: [CapacitySnapshot.GPU], score: NodeScore)] = []
            var verdicts: [PlacementReport.NodeVerdict] = []
            for node in cluster.nodes {
                switch evaluate(node, clusterId: cluster.id, request: request.resources, ledger: ledger, ttl: ttl) {
                case .fits(let gpus, let score): options.append((node, gpus, score))
                case .rejected(let reasons): verdicts.append(.init(nodeId: node.id, reasons: reasons))
                }
            }
            guard let best = options.min(by: { $0.score.precedes($1.score, mode: request.resources.selectionMode) }) else {
                if !placed.isEmpty {
                    verdicts.insert(.init(nodeId: "(this block)", reasons: ["\(placed.count) of \(request.instances) instances fitted before capacity ran out"]), at: 0)
                }
                return .failed(verdicts)
            }
            let reservation = Reservation(
                blockId: request.blockId, instanceId: newInstanceId(), clusterId: cluster.id, nodeId: best.node.id,
                gpus: best.gpus.map(\.id),
                gpuMemory: best.gpus.first.map { request.resources.gpuReservation(totalMemory: $0.totalMemory) } ?? 0,
                cpus: request.resources.cpus, memory: request.resources.memory)
            ledger.add(reservation)
            placed.append(reservation)
        }
        return .placed(placed)
    }

    enum ClusterFit {
        case placed([Reservation])
        case failed([PlacementReport.NodeVerdict])
    }

    enum NodeFit {
        case fits(gpus: [CapacitySnapshot.GPU], score: NodeScore)
        case rejected([String])
    }

    /// How a node that fits compares with the others.
    struct NodeScore {
        var hasGPUs: Bool
        var wantsGPUs: Bool
        var blockInstances: Int
        /// GPU memory (GPU work) or CPUs (CPU work) left after this instance.
        var remaining: Double
        var load: Double
        var id: String

        func precedes(_ other: NodeScore, mode: ResourceRequest.SelectionMode) -> Bool {
            // CPU-only work goes to nodes without GPUs first, keeping GPU nodes for GPU work.
            if !wantsGPUs && hasGPUs != other.hasGPUs { return !hasGPUs }
            switch mode {
            case .greedy:
                if blockInstances != other.blockInstances { return blockInstances > other.blockInstances }
                if remaining != other.remaining { return remaining < other.remaining }
            case .balanced:
                if blockInstances != other.blockInstances { return blockInstances < other.blockInstances }
                if remaining != other.remaining { return remaining > other.remaining }
            case .lightestLoad:
                if load != other.load { return load < other.load }
                if remaining != other.remaining { return remaining > other.remaining }
            }
            return id < other.id
        }
    }

    static func evaluate(_ node: CapacitySnapshot.Node, clusterId: String, request: ResourceRequest, ledger: Ledger, ttl: Double)
        -> NodeFit
    {
        guard let live = node.live else {
            return .rejected(["no metrics received from this node; it is not placed on until a collector reports (POST /api/nodeMetrics)"])
        }
        guard live.ageSeconds <= ttl else {
            return .rejected(["metrics are \(Int(live.ageSeconds)) s old, older than the \(ttl.formatted) s TTL"])
        }
        let key = Ledger.NodeKey(cluster: clusterId, node: node.id)
        var reasons: [String] = []
        // Sums of many 0.1 CPU reservations are not exact in binary: compare with a little slack.
        let slack = 1e-9
        let reservedCPUs = ledger.cpus[key] ?? 0
        let freeCPUs = node.vcpus - reservedCPUs
        // A default reservation is checked where the node's capacity is known; an explicit request everywhere.
        if request.cpus > 0 && (request.cpusGiven || node.vcpus > 0) && freeCPUs + slack < request.cpus {
            let asked = request.cpusGiven ? "" : " (the default reservation of an instance that asks for no CPUs)"
            reasons.append("needs \(request.cpus.formatted) CPUs\(asked), \(max(0, freeCPUs).formatted) free (\(node.vcpus.formatted) total, \(reservedCPUs.formatted) reserved)")
        }
        let reservedMemory = ledger.memory[key] ?? 0
        let freeMemory = min(live.memoryFree, node.memory > 0 ? node.memory - reservedMemory : live.memoryFree - reservedMemory)
        // Metrics without memory figures (free 0) leave the node's free memory unknown.
        let memoryKnown = live.memoryFree > 0
        if request.memory > 0 && (request.memoryGiven || memoryKnown) && freeMemory + slack < request.memory {
            let asked = request.memoryGiven ? "" : " (the default reservation of an instance that asks for no memory)"
            reasons.append("needs \(request.memory.formatted) MB memory\(asked), \(max(0, freeMemory).formatted) MB free after reservations")
        }

        var chosen: [CapacitySnapshot.GPU] = []
        var remainingGPU = 0.0
        if request.gpus > 0 {
            var eligible: [(gpu: CapacitySnapshot.GPU, available: Double)] = []
            var gpuReasons: [String] = []
            for gpu in live.gpus {
                let reserved = ledger.gpuMemory[Ledger.GPUKey(node: key, gpu: gpu.id)] ?? 0
                let available = min(gpu.freeMemory, gpu.totalMemory - reserved)
                if let maxUtilization = request.maxGPUUtilization, gpu.utilization >= maxUtilization * 100 {
                    gpuReasons.append("GPU \(gpu.id): utilisation \(gpu.utilization.formatted) % ≥ \((maxUtilization * 100).formatted) %")
                } else if let needed = request.minGPUFreeMemory, available < needed {
                    gpuReasons.append("GPU \(gpu.id): \(available.formatted) MB free after reservations < \(needed.formatted) MB needed")
                } else if request.minGPUFreeMemory == nil && reserved > 0 {
                    gpuReasons.append("GPU \(gpu.id): already reserved, and without min_gpu_free_memory an instance takes a GPU whole")
                } else {
                    eligible.append((gpu, available))
                }
            }
            if live.gpus.count < request.gpus {
                reasons.append("has \(live.gpus.count) GPU(s) reporting metrics\(node.declaredGPUs > live.gpus.count ? " (\(node.declaredGPUs) declared)" : ""), needs \(request.gpus) on one node")
            } else if eligible.count < request.gpus {
                reasons.append("\(eligible.count) of \(live.gpus.count) GPUs qualify, needs \(request.gpus): " + gpuReasons.joined(separator: "; "))
            } else {
                switch request.selectionMode {
                case .greedy:
                    eligible.sort { $0.available != $1.available ? $0.available < $1.available : $0.gpu.id < $1.gpu.id }
                case .balanced, .lightestLoad:
                    eligible.sort {
                        if $0.gpu.utilization != $1.gpu.utilization { return $0.gpu.utilization < $1.gpu.utilization }
                        return $0.available != $1.available ? $0.available > $1.available : $0.gpu.id < $1.gpu.id
                    }
                }
                let picked = eligible.prefix(request.gpus)
                chosen = picked.map(\.gpu).sorted { GPUOrder.precedes($0.id, $1.id) }
                remainingGPU = eligible.reduce(0) { $0 + $1.available } - picked.reduce(0) { $0 + request.gpuReservation(totalMemory: $1.gpu.totalMemory) }
            }
        }
        guard reasons.isEmpty else { return .rejected(reasons) }
        let gpuLoad = chosen.isEmpty ? 0 : chosen.reduce(0) { $0 + $1.utilization } / Double(chosen.count)
        let score = NodeScore(
            hasGPUs: max(node.declaredGPUs, live.gpus.count) > 0, wantsGPUs: request.gpus > 0,
            blockInstances: ledger.blockInstances[key] ?? 0,
            remaining: request.gpus > 0 ? remainingGPU : freeCPUs - request.cpus,
            load: request.gpus > 0 ? gpuLoad : live.load15m, id: node.id)
        return .fits(gpus: chosen, score: score)
    }
}

/// GPU ids in the order people read them: numerically when both are numbers ("2" before "10").
enum GPUOrder {
    static func precedes(_ a: String, _ b: String) -> Bool {
        if let x = Int(a), let y = Int(b) { return x < y }
        return a < b
    }
}
