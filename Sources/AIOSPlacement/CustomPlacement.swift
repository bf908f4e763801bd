import AIOSModel
import AIOSPolicy

/// A block's custom `clusterAllocator` and `resourceAllocator` policies, asked before the placer decides:
/// the cluster allocator gets AIOS's `selection` (the clusters that passed the block's filter) and, when it
/// keeps several, `post_dry_run` (each with the built-in's dry-run score); the resource allocator gets
/// `allocation` (or `scale`) per instance with the cluster's nodes as the ledger leaves them. Their answers
/// only steer the placer, which still checks every choice against the filters and the ledger in the same
/// transaction that stores it: a policy cannot reserve what is taken.
public struct CustomPlacement: Sendable {
    public let policies: CustomPolicies
    public let blockId: String
    public let clusterRule: PolicyRule?
    public let resourceRule: PolicyRule?
    /// `allocation` for a new block, `scale` for instances added to a running one.
    public let action: String

    public init(policies: CustomPolicies, blockId: String, clusterRule: PolicyRule?, resourceRule: PolicyRule?, action: String) {
        self.policies = policies
        self.blockId = blockId
        self.clusterRule = clusterRule
        self.resourceRule = resourceRule
        self.action = action
    }

    /// `request` with the policies' cluster order and node choices (unchanged where none is registered or
    /// where one failed; the block's events say so).
    public func guide(_ request: PlacementRequest, snapshot: CapacitySnapshot, reservations: [Reservation]) async -> PlacementRequest {
        var request = request
        let blockData = Self.blockData(request)
        if await policies.isRegistered(clusterRule?.uri), let rule = clusterRule {
            request.clusterOrder = await clusterOrder(rule, request: request, snapshot: snapshot, reservations: reservations, blockData: blockData)
        }
        if await policies.isRegistered(resourceRule?.uri), let rule = resourceRule {
            request.nodeChoices = await nodeChoices(rule, request: request, snapshot: snapshot, reservations: reservations, blockData: blockData)
        }
        return request
    }

    // MARK: clusterAllocator

    private func clusterOrder(_ rule: PolicyRule, request: PlacementRequest, snapshot: CapacitySnapshot, reservations: [Reservation],
                              blockData: JSONValue) async -> [String]? {
        let filtered = snapshot.clusters.filter { request.selection.clusterQuery.matches($0.document) && Placer.metricsHold(request, $0) }
        let offered = Set(filtered.map(\.id))
        let input: JSONValue = ["action": "selection", "filter_result": .array(filtered.map(Self.clusterData)), "block_data": blockData]
        var selected: [String]
        switch await policies.evaluate(rule, owner: blockId, input: input) {
        case .builtIn:
            return nil
        case .decided(let result):
            switch PolicyOutputs.clusters(result, offered: offered) {
            case .success(let ids): selected = ids
            case .failure(let failure):
                await policies.reportFallback(rule, owner: blockId, failure, builtIn: BuiltInPolicies.uri(of: .clusterAllocator))
                return nil
            }
        case .failed(let failure):
            await policies.reportFallback(rule, owner: blockId, failure, builtIn: BuiltInPolicies.uri(of: .clusterAllocator))
            return nil
        }
        var message = "clusterAllocator policy \(rule.uri ?? "-") selected \(selected.isEmpty ? "no cluster" : selected.joined(separator: ", ")) of \(filtered.count) that passed the filter"
        if selected.count > 1 {
            // post_dry_run: each selected cluster with the built-in's dry run on it; the policy picks one.
            let dryRuns = selected.compactMap { id -> JSONValue? in
                guard let cluster = snapshot.clusters.first(where: { $0.id == id }) else { return nil }
                var single = request
                single.clusterOrder = nil
                let outcome = Placer.place(single, in: CapacitySnapshot(clusters: [cluster], ttl: snapshot.ttl), reservations: reservations, newInstanceId: { "dry-run" })
                var score: JSONValue = ["fits": false, "score": 0]
                if case .placed(_, _, let report) = outcome {
                    let nodes = report.clusters.first?.nodes ?? []
                    score = ["fits": true, "score": .number(nodes.first?.score ?? 0)]
                }
                return ["id": .string(id), "cluster": Self.clusterData(cluster), "score_data": score, "block_data": blockData]
            }
            switch await policies.evaluate(rule, owner: blockId, input: ["action": "post_dry_run", "clusters": .array(dryRuns)]) {
            case .decided(let result):
                switch PolicyOutputs.chosenCluster(result, offered: Set(selected)) {
                case .success(let id):
                    selected = [id] + selected.filter { $0 != id }
                    message += "; post_dry_run chose \(id)"
                case .failure(let failure):
                    await policies.reportFallback(rule, owner: blockId, failure, builtIn: "its selection order")
                }
            case .failed(let failure):
                await policies.reportFallback(rule, owner: blockId, failure, builtIn: "its selection order")
            case .builtIn:
                break
            }
        }
        await policies.report(owner: blockId, kind: .clusterAllocator, type: .policyDecided, message)
        return selected
    }

    // MARK: resourceAllocator

    private func nodeChoices(_ rule: PolicyRule, request: PlacementRequest, snapshot: CapacitySnapshot, reservations: [Reservation],
                             blockData: JSONValue) async -> NodeChoices? {
        // The cluster the placer will try first: the policy's first, else the built-in's choice.
        let target: String?
        if let order = request.clusterOrder {
            target = order.first
        } else if case .placed(let clusterId, _, _) = Placer.place(request, in: snapshot, reservations: reservations, newInstanceId: { "dry-run" }) {
            target = clusterId
        } else {
            target = snapshot.clusters.first { request.selection.clusterQuery.matches($0.document) && Placer.metricsHold(request, $0) }?.id
        }
        guard let target, let cluster = snapshot.clusters.first(where: { $0.id == target }) else { return nil }
        var ledger = Ledger(reservations, blockId: request.blockId)
        var choices: [Int: NodeChoices.Choice] = [:]
        var chosen: [String] = []
        for instance in 0..<request.instances {
            let state = PlacementState(clusterId: cluster.id, blockId: request.blockId, instance: instance, instances: request.instances, ttl: snapshot.ttl)
            let evaluations = cluster.nodes.map { NodeEvaluation($0, request: request.resources, ledger: ledger, state: state, plugins: .builtIn) }
            let nodes = evaluations.filter(\.passed).map(Self.nodeData)
            let input: JSONValue = [
                "action": .string(action),
                "payload": ["block": blockData, "cluster": Self.clusterData(cluster), "cluster_metrics": cluster.metrics,
                            "healthy_nodes": .array(nodes), "instance_index": .number(Double(instance)),
                            "allocated": .array(chosen.map(JSONValue.string))],
            ]
            let failure: PolicyFailure
            switch await policies.evaluate(rule, owner: blockId, input: input) {
            case .builtIn:
                return nil
            case .decided(let result):
                switch PolicyOutputs.allocation(result) {
                case .success(let (node, gpus)):
                    let choice = NodeChoices.Choice(node: node, gpus: gpus)
                    choices[instance] = choice
                    chosen.append(node)
                    // The next instance sees this one's share taken (when the choice holds).
                    if case .success(let (index, picked)) = Placer.check(choice, in: evaluations, request: request.resources) {
                        let gpuMemory = picked.first.map { request.resources.gpuReservation(totalMemory: $0.totalMemory) } ?? 0
                        ledger.add(Reservation(blockId: request.blockId, instanceId: "policy-\(instance)", clusterId: cluster.id,
                                               nodeId: evaluations[index].candidate.id, gpus: picked.map(\.id), gpuMemory: gpuMemory,
                                               cpus: request.resources.cpus, memory: request.resources.memory))
                    }
                    continue
                case .failure(let bad):
                    failure = bad
                }
            case .failed(let failed):
                failure = failed
            }
            await policies.reportFallback(rule, owner: blockId, failure, builtIn: BuiltInPolicies.uri(of: .resourceAllocator))
            break
        }
        guard !choices.isEmpty else { return nil }
        let summary = choices.sorted { $0.key < $1.key }.map { "\($0.value.node)" + ($0.value.gpus.isEmpty ? "" : " GPUs \($0.value.gpus.joined(separator: ","))") }
        await policies.report(owner: blockId, kind: .resourceAllocator, type: .policyDecided,
                              "resourceAllocator policy \(rule.uri ?? "-") (\(action)) chose on cluster \(cluster.id): \(summary.joined(separator: "; "))")
        return NodeChoices(clusterId: cluster.id, policy: rule.uri ?? "-", choices: choices)
    }

    // MARK: Inputs

    static func blockData(_ request: PlacementRequest) -> JSONValue {
        ["blockId": .string(request.blockId), "id": .string(request.blockId), "instances": .number(Double(request.instances)),
         "resourceRequest": ["gpus": .number(Double(request.resources.gpus)), "cpus": .number(request.resources.cpus),
                             "memory": .number(request.resources.memory)]]
    }

    /// A cluster as AIOS policies read it: its document, `metrics` (the cluster summary) and `id`.
    static func clusterData(_ cluster: CapacitySnapshot.Cluster) -> JSONValue {
        var document = cluster.document.objectValue ?? [:]
        document["id"] = .string(cluster.id)
        document["metrics"] = cluster.metrics["cluster"] ?? .null
        return .object(document)
    }

    /// A node that passed the filters, with what the ledger leaves free on it.
    static func nodeData(_ evaluation: NodeEvaluation) -> JSONValue {
        let candidate = evaluation.candidate
        let qualifying = Set(candidate.qualifyingGPUs.map(\.gpu.id))
        return [
            "id": .string(candidate.id), "node_id": .string(candidate.id),
            "vcpus": .number(candidate.node.vcpus), "free_vcpus": .number(candidate.freeCPUs),
            "memory": .number(candidate.node.memory), "free_memory": .number(candidate.node.memory - candidate.reservedMemory),
            "gpus": .array(candidate.gpus.map { gpu in
                ["gpu_id": Int(gpu.gpu.id).map { .number(Double($0)) } ?? .string(gpu.gpu.id), "totalMem": .number(gpu.gpu.totalMemory),
                 "freeMem": .number(gpu.available), "utilization": .number(gpu.gpu.utilization), "qualifies": .bool(qualifying.contains(gpu.gpu.id))]
            }),
        ]
    }
}
