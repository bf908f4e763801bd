extension PlacementReport {
    /// The report's node entries for one cluster: at most `limit` nodes in detail, in the order given, then
    /// one `…` entry counting the others and the filters that rejected them.
    static func nodeVerdicts(_ evaluations: [NodeEvaluation], plugins: PlacementPlugins, limit: Int) -> [NodeVerdict] {
        var verdicts = evaluations.prefix(limit).map { nodeVerdict($0, plugins: plugins) }
        let omitted = evaluations.dropFirst(limit)
        guard !omitted.isEmpty else { return verdicts }
        var rejections: [String: Int] = [:]
        var feasible = 0
        for evaluation in omitted {
            if evaluation.passed { feasible += 1 }
            for (filter, verdict) in zip(plugins.filters, evaluation.filterVerdicts) where verdict?.passed == false {
                rejections[filter.name, default: 0] += 1
            }
        }
        var parts: [String] = []
        if !rejections.isEmpty {
            parts.append("rejected by " + rejections.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
                .map { "\($0.key) ×\($0.value)" }.joined(separator: ", "))
        }
        if feasible > 0 { parts.append("\(feasible) feasible") }
        verdicts.append(NodeVerdict(nodeId: "…", reasons: ["\(omitted.count) more nodes not listed" + (parts.isEmpty ? "" : ": " + parts.joined(separator: "; "))]))
        return verdicts
    }

    static func nodeVerdict(_ evaluation: NodeEvaluation, plugins: PlacementPlugins) -> NodeVerdict {
        var verdicts: [PluginVerdict] = []
        for (filter, rejected) in zip(plugins.gpuFilters, evaluation.gpuFilterRejections) {
            verdicts.append(PluginVerdict(plugin: filter.name, kind: "gpu-filter", verdict: rejected.isEmpty ? "passed" : "rejected",
                                          reasons: rejected.isEmpty ? nil : rejected))
        }
        for (filter, verdict) in zip(plugins.filters, evaluation.filterVerdicts) {
            switch verdict {
            case nil:
                verdicts.append(PluginVerdict(plugin: filter.name, kind: "filter", verdict: "skipped"))
            case .pass?:
                verdicts.append(PluginVerdict(plugin: filter.name, kind: "filter", verdict: "passed"))
            case let rejection?:
                verdicts.append(PluginVerdict(plugin: filter.name, kind: "filter", verdict: "rejected",
                                              reasons: NodeEvaluation.reasons(rejection, filter.name)))
            }
        }
        for (scorer, score) in zip(plugins.scorers, evaluation.scores) {
            verdicts.append(PluginVerdict(plugin: scorer.name, kind: "scorer", score: score, weight: scorer.weight))
        }
        let outcome = evaluation.chosen ? "chosen" : evaluation.passed ? "feasible" : "rejected"
        return NodeVerdict(nodeId: evaluation.candidate.id, reasons: evaluation.reasons, outcome: outcome,
                           score: evaluation.passed ? evaluation.total : nil, plugins: verdicts)
    }
}
