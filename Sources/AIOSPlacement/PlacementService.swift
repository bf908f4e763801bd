import AIOSMetrics
import AIOSModel
import AIOSPolicy
import AIOSQuery
import AIOSStore
import Foundation
import Logging

/// Places blocks: turns a block's policies into a placement request (type-checked when the block is created),
/// builds the capacity snapshot from the registry and live metrics, and stores the decision with its
/// reservations in one registry transaction.
public struct PlacementService: Sendable {
    /// A block's parsed placement policies, and what the block's events should say about them.
    public struct Plan: Sendable {
        public var request: PlacementRequest
        public var notes: [String]
        /// The block's rules, for its custom policies (when registered) to steer the placer.
        public var clusterRule: PolicyRule?
        public var resourceRule: PolicyRule?
    }

    public let registry: any Registry
    public let metrics: LiveMetrics
    public let logger: Logger
    /// Registered custom policies, asked before the placer decides.
    public let policies: CustomPolicies?

    public init(registry: any Registry, metrics: LiveMetrics, logger: Logger, policies: CustomPolicies? = nil) {
        self.registry = registry
        self.metrics = metrics
        self.logger = logger
        self.policies = policies
    }

    /// Parses the block's `clusterAllocator` and `resourceAllocator` policies. Errors name the bad field.
    public func plan(blockId: String, instances: Int, values: [String: JSONValue], valuesPath: FieldPath, resolved: ResolvedBlock) async throws -> Plan {
        let clusters = try await registry.clusters()
        var metricsSamples: [JSONValue] = []
        for cluster in clusters {
            metricsSamples.append(await metrics.document(clusterId: cluster.id))
        }
        var errors: [FieldError] = []
        func rule(_ kind: PolicyKind) -> PolicyRule? {
            let location = BlockSpec.policyLocation(kind.rawValue, values: values, valuesPath: valuesPath)
            do {
                return try PolicyRule.read(resolved.policies, kind: kind, location: location)
            } catch {
                errors += error.fields
                return nil
            }
        }
        let clusterRule = rule(.clusterAllocator)
        let resourceRule = rule(.resourceAllocator)
        var selection = ClusterSelection()
        var resources = ResourceRequest()
        do {
            selection = try ClusterSelection(rule: clusterRule, clusterSamples: clusters.map(\.assembled), metricsSamples: metricsSamples)
        } catch {
            errors += error.fields
        }
        do {
            resources = try ResourceRequest(rule: resourceRule)
        } catch {
            errors += error.fields
        }
        if !errors.isEmpty { throw APIError.validation(errors) }
        var notes: [String] = []
        for (rule, kind) in [(clusterRule, PolicyKind.clusterAllocator), (resourceRule, .resourceAllocator)] {
            if let policies, let rule, await policies.isRegistered(rule.uri) {
                notes.append("\(kind.rawValue) served by custom policy \(rule.uri ?? "-") (sandboxed); the built-in \(BuiltInPolicies.uri(of: kind)) decides where it cannot")
            } else if let note = BuiltInPolicies.resolve(rule, kind: kind).note {
                notes.append(note)
            }
        }
        return Plan(request: PlacementRequest(blockId: blockId, instances: instances, selection: selection, resources: resources), notes: notes,
                    clusterRule: clusterRule, resourceRule: resourceRule)
    }

    /// Every cluster, its fresh-metrics document and its nodes' capacity, as of now.
    public func snapshot() async throws -> CapacitySnapshot {
        let clusters = try await registry.clusters()
        let live = await metrics.snapshot()
        let now = Date()
        let ttl = metrics.ttl
        return CapacitySnapshot(clusters: clusters.map { cluster in
            var samples = Array((live[cluster.id] ?? [:]).values)
            let nodes = cluster.nodes.map { node -> CapacitySnapshot.Node in
                let document = JSONValue.object(node.document)
                var sample = live[cluster.id]?[node.id]
                var fromAllocatable = false
                // A discovered (Kubernetes) node no collector reports is placed on its allocatable capacity.
                if document["discovered"]?.boolValue == true, sample.map({ $0.age(at: now) > ttl }) ?? true {
                    let allocatable = NodeMetricsSample(nodeId: node.id, metrics: .allocatable(of: node), receivedAt: now)
                    samples.removeAll { $0.nodeId == node.id }
                    samples.append(allocatable)
                    sample = allocatable
                    fromAllocatable = true
                }
                return CapacitySnapshot.Node(
                    id: node.id,
                    vcpus: document.value(atDottedPath: "vcpus.count")?.numberValue ?? 0,
                    memory: document["memory"]?.numberValue ?? 0,
                    declaredGPUs: node.gpuCount,
                    live: sample.map { sample in
                        CapacitySnapshot.Live(
                            ageSeconds: sample.age(at: now), load15m: sample.metrics.load15m, memoryFree: sample.metrics.memoryFree,
                            gpus: sample.metrics.gpus.map {
                                CapacitySnapshot.GPU(id: $0.gpuId, totalMemory: $0.totalMem, freeMemory: $0.freeMem, utilization: $0.cudaUtilization)
                            }, fromAllocatable: fromAllocatable)
                    },
                    schedulingProblem: document["schedulingProblem"]?.stringValue)
            }
            return CapacitySnapshot.Cluster(
                id: cluster.id, document: cluster.assembled,
                metrics: ClusterMetrics.document(clusterId: cluster.id, samples: samples, now: now, ttl: ttl, includeStale: false),
                nodes: nodes)
        }, ttl: ttl)
    }

    /// Decides without storing anything.
    public func dryRun(_ plan: Plan) async throws -> PlacementOutcome {
        let snapshot = try await snapshot()
        let request = try await guided(plan, snapshot: snapshot, action: "allocation")
        let reservations = try await registry.reservations()
        return Placer.place(request, in: snapshot, reservations: reservations, newInstanceId: InstanceID.generate)
    }

    /// The request steered by the block's custom cluster and resource allocators, when it names registered ones.
    func guided(_ plan: Plan, snapshot: CapacitySnapshot, action: String) async throws -> PlacementRequest {
        guard let policies, plan.clusterRule?.uri != nil || plan.resourceRule?.uri != nil else { return plan.request }
        let guide = CustomPlacement(policies: policies, blockId: plan.request.blockId, clusterRule: plan.clusterRule,
                                    resourceRule: plan.resourceRule, action: action)
        return await guide.guide(plan.request, snapshot: snapshot, reservations: try await registry.reservations())
    }

    /// Events for what a custom policy chose that the placer could not take.
    func fallbackEvents(_ report: PlacementReport) -> [BlockEvent] {
        (report.notes ?? []).map { BlockEvent(type: .policyFallback, message: $0) }
    }

    /// Moves a block to `Placing`, decides, and stores `Starting` with its placement and reservations, or
    /// `Failed` with the report.
    public func place(blockId: String, plan: Plan) async throws -> BlockRecord {
        let snapshot = try await snapshot()
        _ = try await registry.transition(blockId: blockId) { block, _ in
            guard block.phase != .deleting else { throw BlockRemovedMeanwhile(blockId: blockId) }
            var block = block
            block.phase = .placing
            block.reason = nil
            let events = plan.notes.map { BlockEvent(type: .policyResolved, message: $0) }
                + [BlockEvent(type: .placing, message: "choosing a cluster and nodes for \(plan.request.instances) instance(s)")]
            return BlockTransition(block: block, events: events)
        }
        let request = try await guided(plan, snapshot: snapshot, action: "allocation")
        let decided = try await registry.transition(blockId: blockId) { [self] block, reservations in
            guard block.phase != .deleting else { throw BlockRemovedMeanwhile(blockId: blockId) }
            var block = block
            switch Placer.place(request, in: snapshot, reservations: reservations, newInstanceId: InstanceID.generate) {
            case .placed(let clusterId, let placed, let report):
                block.phase = .starting
                block.reason = nil
                block.placement = BlockPlacement(clusterId: clusterId, instances: placed.map {
                    BlockPlacement.Instance(instanceId: $0.instanceId, nodeId: $0.nodeId, gpus: $0.gpus)
                })
                block.placementReport = report.json
                return BlockTransition(block: block, events: fallbackEvents(report) + [BlockEvent(type: .placed, message: report.summary)], reservations: placed)
            case .unplaced(let report):
                block.phase = .failed
                block.reason = report.summary
                block.placementReport = report.json
                return BlockTransition(block: block, events: [BlockEvent(type: .placementFailed, message: report.lines.joined(separator: "\n"))])
            }
        }
        logger.info("block placement decided", metadata: [
            "blockId": "\(blockId)", "phase": "\(decided.block.phase.rawValue)",
            "clusterId": "\(decided.block.placement.clusterId ?? "-")",
        ])
        return decided.block
    }
}

extension PlacementService {
    /// Scale-up: places `count` more instances of a running block on its cluster, through its
    /// `resourceAllocator`, and stores them with their reservations in one transaction. Returns the block
    /// with the new instances, or `nil` with the reason when they do not fit (nothing is stored then, and
    /// no instance is left pending).
    public func addInstances(to block: BlockRecord, count: Int, reason: String) async throws -> (BlockRecord?, String) {
        guard let clusterId = block.placement.clusterId else { return (nil, "the block has no cluster") }
        let plan = try await plan(blockId: block.blockId, instances: count, values: block.spec, valuesPath: .root, resolved: block.resolved)
        var snapshot = try await snapshot()
        snapshot.clusters = snapshot.clusters.filter { $0.id == clusterId }
        let frozen = snapshot
        var scalePlan = plan
        scalePlan.clusterRule = nil  // the block stays on its cluster
        let request = try await guided(scalePlan, snapshot: frozen, action: "scale")
        let transition = try await registry.transition(blockId: block.blockId) { [self] current, reservations in
            var updated = current
            switch Placer.place(request, in: frozen, reservations: reservations, newInstanceId: InstanceID.generate) {
            case .placed(_, let placed, let report):
                updated.placement.instances += placed.map { BlockPlacement.Instance(instanceId: $0.instanceId, nodeId: $0.nodeId, gpus: $0.gpus) }
                updated.desiredInstances = updated.placement.instances.count
                let where_ = placed.map { "\($0.instanceId) on node \($0.nodeId)" + ($0.gpus.isEmpty ? "" : " GPUs \($0.gpus.joined(separator: ","))") }.joined(separator: ", ")
                return BlockTransition(block: updated, events: fallbackEvents(report) + [BlockEvent(type: .scaledUp, message: "\(current.placement.instances.count) → \(updated.placement.instances.count) instances (\(where_)): \(reason)")], reservations: placed)
            case .unplaced(let report):
                return BlockTransition(block: current, events: [BlockEvent(type: .scaleUpBlocked, message: "wanted \(count) more instance(s) (\(reason)) but none fits on cluster \(clusterId): \(report.lines.joined(separator: " "))")])
            }
        }
        let grew = transition.block.placement.instances.count > block.placement.instances.count
        return (grew ? transition.block : nil, transition.events.last?.message ?? "")
    }
}

/// Instance ids: `inst-` and six random lowercase letters and digits (DNS-label safe).
public enum InstanceID {
    public static func generate() -> String {
        RandomID.make(prefix: "inst-", length: 6)
    }
}
