/// One node judged by the plugins for one instance: the GPU filters on each GPU, the node filters in order,
/// and (for a node that passed them all) its GPUs picked and its scores. Kept as verdicts, not report text,
/// until the report needs them.
struct NodeEvaluation {
    var candidate: NodeCandidate
    /// Per node filter, in plugin order; `nil` where an earlier filter's rejection skipped it.
    var filterVerdicts: [FilterVerdict?]
    /// Per GPU filter, in plugin order, the GPUs it rejected (`GPU <id>: <reason>`); empty when GPU filters
    /// did not run (the request asks for no GPUs).
    var gpuFilterRejections: [[String]]
    /// Every rejecting filter's reasons, in plugin order: empty when the node passed.
    var reasons: [String]
    /// Per scorer, in plugin order, for a node that passed; and their weighted sum.
    var scores: [Double] = []
    var total: Double = 0
    /// Whether the instance went to this node.
    var chosen = false

    var passed: Bool { reasons.isEmpty }

    init(_ node: CapacitySnapshot.Node, request: ResourceRequest, ledger: Ledger, state: PlacementState, plugins: PlacementPlugins) {
        let key = Ledger.NodeKey(cluster: state.clusterId, node: node.id)
        var candidate = NodeCandidate(
            node: node, reservedCPUs: ledger.cpus[key] ?? 0, reservedMemory: ledger.memory[key] ?? 0,
            blockInstances: ledger.blockInstances[key] ?? 0,
            gpus: (node.live?.gpus ?? []).map { GPUCandidate(gpu: $0, reserved: ledger.gpuMemory[Ledger.GPUKey(node: key, gpu: $0.id)] ?? 0) })

        var gpuFilterRejections: [[String]] = []
        if request.gpus > 0 {
            gpuFilterRejections = Array(repeating: [], count: plugins.gpuFilters.count)
            for gpu in candidate.gpus {
                // A GPU's first rejection is its reason; the filters after it are not run on it.
                var rejection: (index: Int, line: String)?
                for (index, filter) in plugins.gpuFilters.enumerated() {
                    let verdict = filter.filter(gpu, on: candidate, request: request, state: state)
                    if !verdict.passed {
                        rejection = (index, "GPU \(gpu.gpu.id): " + Self.reasons(verdict, filter.name).joined(separator: ", "))
                        break
                    }
                }
                if let rejection {
                    gpuFilterRejections[rejection.index].append(rejection.line)
                    candidate.gpuRejections.append(rejection.line)
                } else {
                    candidate.qualifyingGPUs.append(gpu)
                }
            }
        }

        var verdicts: [FilterVerdict?] = []
        verdicts.reserveCapacity(plugins.filters.count)
        var reasons: [String] = []
        var skipping = false
        for filter in plugins.filters {
            guard !skipping else {
                verdicts.append(nil)
                continue
            }
            let verdict = filter.filter(candidate, request: request, state: state)
            verdicts.append(verdict)
            if !verdict.passed {
                reasons += Self.reasons(verdict, filter.name)
                skipping = filter.skipsRestWhenRejecting
            }
        }
        if reasons.isEmpty && request.gpus > 0 {
            let picked = GPUPicker.pick(request.gpus, from: candidate.qualifyingGPUs, request: request)
            candidate.assignedGPUs = picked.gpus
            candidate.remainingGPUMemory = picked.remainingMemory
        }
        self.candidate = candidate
        self.filterVerdicts = verdicts
        self.gpuFilterRejections = gpuFilterRejections
        self.reasons = reasons
    }

    /// A rejection's reasons, or one naming the plugin when it gave none.
    static func reasons(_ verdict: FilterVerdict, _ plugin: String) -> [String] {
        verdict.reasons.isEmpty ? ["rejected by \(plugin)"] : verdict.reasons
    }

    /// Scores the nodes that passed (`feasible`, indices into `evaluations`) with every scorer.
    static func score(_ evaluations: inout [NodeEvaluation], feasible: [Int], request: ResourceRequest, state: PlacementState,
                      plugins: PlacementPlugins) {
        let candidates = feasible.map { evaluations[$0].candidate }
        for scorer in plugins.scorers {
            let scores = scorer.scores(candidates, request: request, state: state)
            for (position, index) in feasible.enumerated() {
                let score = NodeScore.clamped(position < scores.count ? scores[position] : NodeScore.worst)
                evaluations[index].scores.append(score)
                evaluations[index].total += scorer.weight * score
            }
        }
    }
}
