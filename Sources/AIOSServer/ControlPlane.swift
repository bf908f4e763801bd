import AIOSAuth
import AIOSBlock
import AIOSKubernetes
import AIOSMetrics
import AIOSModel
import AIOSPlacement
import AIOSPolicy
import AIOSRuntime
import AIOSStore
import Foundation
import Logging

/// The management plane's actions over the registry. Each mutating action validates everything first,
/// then makes its change and its task record in one registry transaction: a rejected request stores nothing.
public struct ControlPlane: Sendable {
    /// The outcome of a mutating action: the AIOS reply `{"success": true, "task_id", "result"}`.
    public typealias Outcome = ActionOutcome

    public static let localClusterId = ClusterSpec.localId
    public static let localNodeId = "local"

    public let registry: any Registry
    public let metrics: LiveMetrics
    let placement: PlacementService
    let instances: InstanceManager
    let thirdParty: ThirdPartyDeployer
    let secrets: BlockSecrets
    let logger: Logger
    /// Registered custom policies (their workers of a removed block stop with it).
    let policies: CustomPolicies?
    /// Removals under way: concurrent `removeBlock`s of one block share one removal.
    let removals = BlockRemovals()
    /// Connections to Kubernetes clusters (`driver: kubernetes`).
    var kubernetes: KubernetesClusters?
    /// The data directory: a Kubernetes cluster's config may not name files in it (the platform sends what it reads).
    var kubernetesProtectedDirectory: String?

    init(registry: any Registry, metrics: LiveMetrics, instances: InstanceManager, thirdParty: ThirdPartyDeployer, secrets: BlockSecrets,
         policies: CustomPolicies? = nil, logger: Logger) {
        self.secrets = secrets
        self.registry = registry
        self.metrics = metrics
        self.policies = policies
        self.placement = PlacementService(registry: registry, metrics: metrics, logger: logger, policies: policies)
        self.instances = instances
        self.thirdParty = thirdParty
        self.logger = logger
    }

    // MARK: Components

    public func addComponent(_ document: JSONValue) async throws -> Outcome {
        let envelope = try SpecEnvelope(document: document)
        let spec = try ComponentSpec(envelope: envelope)
        if let field = spec.hostCommandFields.first {
            try RequestPrincipal.require(.admin, "adding a component that runs a command on the platform's host (\(envelope.valuesPath / field))")
        }
        let warnings = SpecWarnings.component(envelope.values, at: envelope.valuesPath)
        let task = TaskRecord(action: "addComponent", subject: spec.uri.description, status: .completed,
                              result: ["componentURI": .string(spec.uri.description), "warnings": SpecWarnings.json(warnings)])
        try await mapRegistryErrors(field: spec.uri.description, path: (envelope.valuesPath / "componentId").description) {
            try await registry.addComponent(ComponentRecord(spec: spec), task: task)
        }
        logger.info("component added", metadata: ["componentURI": "\(spec.uri)"])
        return Outcome(taskId: task.id, result: task.result)
    }

    // MARK: Clusters

    public func createCluster(_ document: JSONValue) async throws -> Outcome {
        let envelope = try SpecEnvelope(document: document)
        var cluster = try ClusterSpec(envelope: envelope)
        if let driver = cluster.driver, instances.drivers[driver] == nil {
            throw APIError.validation([FieldError(path: envelope.valuesPath / "driver",
                                                  message: "unknown driver \"\(driver)\"; this platform has \(instances.drivers.names.joined(separator: ", "))")])
        }
        let isKubernetes = try checkKubernetes(&cluster, at: envelope.valuesPath)
        var task = TaskRecord(action: "createCluster", subject: cluster.id, status: .completed,
                              result: ["clusterId": .string(cluster.id), "nodes": .number(Double(cluster.nodes.count))])
        try await mapRegistryErrors(field: cluster.id, path: (envelope.valuesPath / "id").description) {
            try await registry.createCluster(cluster, task: task)
        }
        logger.info("cluster created", metadata: ["clusterId": "\(cluster.id)", "nodes": "\(cluster.nodes.count)", "driver": "\(InstanceDrivers.name(for: cluster))"])
        if isKubernetes, let kubernetes {
            // Created either way; whether its API answers is its status (Unreachable with the API's answer).
            let status = try await kubernetes.connect(cluster)
            task.result = ["clusterId": .string(cluster.id), "driver": .string(KubernetesDriver.driverName),
                           "nodes": .number(Double(status.nodes)), "status": await kubernetes.status(of: cluster.id) ?? .null]
            task.updatedAt = Date()
            try? await registry.putTask(task)
        }
        return Outcome(taskId: task.id, result: task.result)
    }

    /// A cluster with `config.kubernetes` runs on Kubernetes: its driver is `kubernetes`, its nodes come from the
    /// API, and its config is checked now (files read, URLs parsed) with the token sealed before it is stored.
    private func checkKubernetes(_ cluster: inout ClusterSpec, at path: FieldPath) throws -> Bool {
        let configured = cluster.document["config"]?["kubernetes"]
        guard configured != nil || cluster.driver == KubernetesDriver.driverName else { return false }
        guard kubernetes != nil else {
            throw APIError.validation([FieldError(path: path / "driver", message: "this platform does not run Kubernetes clusters")])
        }
        guard case .object(let object) = configured else {
            throw APIError.validation([FieldError(path: path / "config" / "kubernetes",
                                                  message: configured == nil ? "a cluster whose driver is kubernetes needs config.kubernetes {server, token | tokenFile, caData | caFile, namespace} or {kubeconfig, context}" : "expected an object")])
        }
        if let driver = cluster.driver, driver != KubernetesDriver.driverName {
            throw APIError.validation([FieldError(path: path / "driver", message: "is \"\(driver)\", but config.kubernetes makes it a Kubernetes cluster; omit driver or say kubernetes")])
        }
        if !cluster.nodes.isEmpty {
            throw APIError.validation([FieldError(path: path / "nodes", message: "a Kubernetes cluster's nodes come from its API; omit nodes")])
        }
        let settings = try KubernetesSettings.read(object, at: path / "config" / "kubernetes")
        // Files it names are read by the platform and sent to its server: none of the platform's own.
        if let dataDirectory = kubernetesProtectedDirectory, let field = settings.fileFields(under: dataDirectory).first {
            throw APIError.validation([FieldError(path: path / "config" / "kubernetes" / field, message: "names a file in the platform's data directory")])
        }
        // Its CA and client certificate are parsed now: a cluster that cannot be connected to is not stored.
        do {
            _ = try KubernetesClient.tlsConfiguration(settings)
        } catch {
            throw APIError.validation([FieldError(path: path / "config" / "kubernetes", message: "\(error)")])
        }
        var config = cluster.document["config"]?.objectValue ?? [:]
        config["kubernetes"] = .object(try secrets.sealed(object))
        cluster.document["config"] = .object(config)
        cluster.document["driver"] = .string(KubernetesDriver.driverName)
        return true
    }

    public func addNode(_ document: JSONValue) async throws -> Outcome {
        let envelope = try SpecEnvelope(document: document)
        let request = try AddNodeRequest(envelope: envelope)
        if let cluster = try await registry.cluster(id: request.clusterId), InstanceDrivers.name(for: cluster) == KubernetesDriver.driverName {
            throw APIError.validation([FieldError(path: envelope.valuesPath / "clusterId",
                                                  message: "cluster \"\(request.clusterId)\" is a Kubernetes cluster: its nodes come from its API")])
        }
        let task = TaskRecord(action: "addNode", subject: "\(request.clusterId)/\(request.node.id)", status: .completed,
                              result: ["clusterId": .string(request.clusterId), "nodeId": .string(request.node.id)])
        do {
            try await registry.addNode(request.node, toCluster: request.clusterId, task: task)
        } catch RegistryError.notFound {
            throw APIError(.notFound, "cluster \"\(request.clusterId)\" does not exist",
                           fields: [FieldError(path: envelope.valuesPath / "clusterId", message: "no such cluster")])
        } catch RegistryError.duplicate {
            let idPath = envelope.values["nodeData"] != nil ? envelope.valuesPath / "nodeData" / "id" : envelope.valuesPath / "id"
            throw APIError(.conflict, "node \"\(request.node.id)\" already exists in cluster \"\(request.clusterId)\"",
                           fields: [FieldError(path: idPath, message: "duplicate node id")])
        }
        logger.info("node added", metadata: ["clusterId": "\(request.clusterId)", "nodeId": "\(request.node.id)"])
        return Outcome(taskId: task.id, result: task.result)
    }

    /// Registers (or refreshes) cluster `local` with this machine as node `local`, keeping other nodes.
    public func registerLocalCluster(_ inventory: HostInventory) async throws {
        let node = NodeSpec(id: Self.localNodeId, document: inventory.nodeDocument(id: Self.localNodeId))
        var cluster = try await registry.cluster(id: Self.localClusterId) ?? ClusterSpec(
            id: Self.localClusterId,
            document: [
                "id": .string(Self.localClusterId),
                "regionId": "local",
                "clusterMetadata": ["vendor": "local", "name": .string(inventory.hostname)],
                "tags": ["local", "embedded"],
                "reputation": 1,
            ],
            nodes: [])
        if let index = cluster.nodes.firstIndex(where: { $0.id == node.id }) {
            cluster.nodes[index] = node
        } else {
            cluster.nodes.insert(node, at: 0)
        }
        try await registry.putCluster(cluster)
        logger.info("cluster local registered", metadata: [
            "cores": "\(inventory.cores)", "memoryMB": "\(Int(inventory.memory))", "gpus": "\(inventory.gpus.count)",
        ])
    }

    // MARK: Blocks

    /// Validates the block (spec, component protocols, placement policies), stores it `Pending`, and places it:
    /// `Starting` with its placement, or `Failed` with the report. A dry run places without storing anything.
    public func createBlock(_ document: JSONValue) async throws -> Outcome {
        let spec = try BlockSpec(envelope: SpecEnvelope(document: document))
        let warnings = SpecWarnings.json(SpecWarnings.block(spec.values, at: spec.valuesPath))
        guard let component = try await registry.component(uri: spec.componentURI.description) else {
            throw APIError(.notFound, "component \"\(spec.componentURI)\" does not exist; add it with addComponent first",
                           fields: [FieldError(path: spec.valuesPath / "blockComponentURI", message: "no such component")])
        }
        let resolved = try spec.resolve(with: component.spec)
        // Routing, autoscaling and stability settings are read once, here: a bad value is a 400 naming it.
        _ = try BlockPolicySettings(validating: resolved, spec: spec)
        try await checkCustomPolicyKinds(resolved, spec: spec)
        let plan = try await placement.plan(blockId: spec.blockId, instances: spec.minInstances, values: spec.values,
                                            valuesPath: spec.valuesPath, resolved: resolved)
        try await refuseUnrunnable(component, plan: plan, spec: spec)
        if spec.isDryRun {
            let outcome = try await placement.dryRun(plan)
            let result = Self.dryRunResult(blockId: spec.blockId, outcome: outcome, notes: plan.notes, driver: await driverView(clusterId: { if case .placed(let clusterId, _, _) = outcome { clusterId } else { nil } }()))
            return Outcome(taskId: "", result: Self.with(warnings, result))
        }

        let block = try secrets.sealed(BlockRecord(spec: spec, resolved: resolved), component: component.spec)
        var task = TaskRecord(action: "createBlock", subject: block.blockId, status: .running,
                              result: ["blockId": .string(block.blockId), "phase": .string(block.phase.rawValue)])
        let event = BlockEvent(type: .created, message: "block created from \(spec.componentURI) with minInstances=\(spec.minInstances), maxInstances=\(spec.maxInstances)")
        try await mapRegistryErrors(field: block.blockId, path: (spec.valuesPath / "blockId").description) {
            try await registry.createBlock(block, event: event, task: task)
        }
        logger.info("block created", metadata: ["blockId": "\(block.blockId)", "componentURI": "\(spec.componentURI)"])

        var placed: BlockRecord
        do {
            do {
                placed = try await placement.place(blockId: block.blockId, plan: plan)
                placed = try await startPlaced(placed, component: component.spec)
            } catch is BlockRemovedMeanwhile {
                throw APIError(.conflict, "block \"\(block.blockId)\" was removed while it was being created")
            } catch RegistryError.notFound {
                throw APIError(.conflict, "block \"\(block.blockId)\" was removed while it was being created")
            }
        } catch {
            task.status = .failed
            task.result = ["blockId": .string(block.blockId), "error": .string(String(describing: error))]
            task.updatedAt = Date()
            try? await registry.putTask(task)
            throw error
        }
        task.status = placed.phase == .failed ? .failed : .completed
        task.result = Self.with(warnings, Self.blockResult(placed, driver: await driverView(clusterId: placed.placement.clusterId)))
        task.updatedAt = Date()
        try await registry.putTask(task)
        return Outcome(taskId: task.id, result: task.result)
    }

    /// A placed block's next step: a third-party component's init program first, else its instances.
    private func startPlaced(_ block: BlockRecord, component: ComponentSpec, afterInterruptedInit: Bool = false) async throws -> BlockRecord {
        guard block.phase == .starting || block.phase == .initializing else { return block }
        if let initContainer = InitContainerSpec(component: component) {
            return try await thirdParty.deploy(block, spec: initContainer, cleanFirst: afterInterruptedInit)
        }
        await instances.start(block)
        return block
    }

    /// The driver that runs a cluster's instances, as block views show it.
    func driverView(clusterId: String?) async -> Views.Driver? {
        guard let clusterId, let cluster = try? await registry.cluster(id: clusterId) else { return nil }
        let name = InstanceDrivers.name(for: cluster)
        return Views.Driver(name: name, simulated: instances.drivers[name].map { !$0.runsOnRealGPUs } ?? false)
    }

    /// A reply's result with the spec's `warnings` added.
    static func with(_ warnings: JSONValue, _ result: JSONValue) -> JSONValue {
        .object((result.objectValue ?? [:]).merging(["warnings": warnings]) { _, warnings in warnings })
    }

    static func blockResult(_ block: BlockRecord, driver: Views.Driver?) -> JSONValue {
        var result: [String: JSONValue] = [
            "blockId": .string(block.blockId),
            "phase": .string(block.phase.rawValue),
            "placement": Views.placement(block.placement, driver: driver),
        ]
        if let reason = block.reason { result["reason"] = .string(reason) }
        if block.phase == .failed { result["report"] = block.placementReport }
        return .object(result)
    }

    static func dryRunResult(blockId: String, outcome: PlacementOutcome, notes: [String], driver: Views.Driver?) -> JSONValue {
        switch outcome {
        case .placed(let clusterId, let reservations, let report):
            return [
                "blockId": .string(blockId), "dryRun": true, "placeable": true,
                "placement": Views.placement(BlockPlacement(clusterId: clusterId, instances: reservations.map {
                    BlockPlacement.Instance(instanceId: $0.instanceId, nodeId: $0.nodeId, gpus: $0.gpus)
                }), driver: driver),
                "report": report.json, "policies": .array(notes.map(JSONValue.string)),
            ]
        case .unplaced(let report):
            return [
                "blockId": .string(blockId), "dryRun": true, "placeable": false, "reason": .string(report.summary),
                "report": report.json, "policies": .array(notes.map(JSONValue.string)),
            ]
        }
    }

    // MARK: Node metrics

    /// `POST /api/nodeMetrics` `{clusterId, nodeId, metrics, timestamp?}`: live metrics from an external collector.
    public func recordNodeMetrics(_ document: JSONValue) async throws -> Outcome {
        let envelope = try SpecEnvelope(document: document)
        let path = envelope.valuesPath
        var reader = FieldReader()
        let clusterId = reader.string(envelope.values, "clusterId", at: path, required: true)
        let nodeId = reader.string(envelope.values, "nodeId", at: path, required: true)
        let metricsDocument = reader.object(envelope.values, "metrics", at: path, required: true)
        let timestamp = reader.number(envelope.values, "timestamp", at: path, minimum: 0)
        let now = Date()
        if let timestamp, timestamp > now.timeIntervalSince1970 + 5 {
            reader.fail(path / "timestamp", "is in the future (unix seconds; now is \(Int(now.timeIntervalSince1970)))")
        }
        try reader.check()
        guard let clusterId, let nodeId, let metricsDocument else { throw APIError.validation(reader.errors) }
        if clusterId == Self.localClusterId {
            throw APIError(.forbidden, "the local cluster's metrics come only from its own collector; nodeMetrics is for the nodes of other clusters",
                           fields: [FieldError(path: path / "clusterId", message: "is the local cluster")])
        }
        if RequestPrincipal.enforced, let principal = RequestPrincipal.current, !principal.scopes.contains(.admin),
           principal.clusterId != clusterId {
            throw APIError(.forbidden, "this node token may push metrics for cluster \"\(principal.clusterId ?? "")\" only",
                           fields: [FieldError(path: path / "clusterId", message: "not this token's cluster")])
        }
        let parsed = try NodeMetrics(document: metricsDocument, at: path / "metrics")
        guard let cluster = try await registry.cluster(id: clusterId) else {
            throw APIError(.notFound, "cluster \"\(clusterId)\" does not exist", fields: [FieldError(path: path / "clusterId", message: "no such cluster")])
        }
        guard cluster.nodes.contains(where: { $0.id == nodeId }) else {
            throw APIError(.notFound, "cluster \"\(clusterId)\" has no node \"\(nodeId)\"; add it with addNode first",
                           fields: [FieldError(path: path / "nodeId", message: "no such node in the cluster")])
        }
        let receivedAt = timestamp.map { Date(timeIntervalSince1970: $0) } ?? now
        await metrics.record(clusterId: clusterId, nodeId: nodeId, metrics: parsed, at: receivedAt)
        logger.debug("node metrics recorded", metadata: ["clusterId": "\(clusterId)", "nodeId": "\(nodeId)"])
        return Outcome(taskId: "", result: ["clusterId": .string(clusterId), "nodeId": .string(nodeId), "receivedAt": Views.time(receivedAt)])
    }

    public func removeBlock(_ document: JSONValue) async throws -> Outcome {
        let envelope = try SpecEnvelope(document: document)
        var reader = FieldReader()
        let blockId = reader.string(envelope.values, "blockId", at: envelope.valuesPath, required: true)
        let force = reader.bool(envelope.values, "force", at: envelope.valuesPath) ?? false
        try reader.check()
        let notFound = APIError(.notFound, "block \"\(blockId ?? "")\" does not exist",
                                fields: [FieldError(path: envelope.valuesPath / "blockId", message: "no such block")])
        guard let blockId else { throw notFound }
        return try await removals.run(blockId) {
            try await self.remove(blockId, force: force, notFound: notFound)
        }
    }

    /// Marks the block `Deleting` (persisted first, so a restart finishes the removal) and removes it.
    private func remove(_ blockId: String, force: Bool, notFound: APIError) async throws -> Outcome {
        let block: BlockRecord
        do {
            block = try await registry.transition(blockId: blockId) { block, _ in
                guard block.phase != .deleting else { return BlockTransition(block: block, events: []) }
                var block = block
                block.phase = .deleting
                block.reason = "removal requested"
                return BlockTransition(block: block, events: [BlockEvent(type: .deleting, message: "removal requested; stopping its instances")])
            }.block
        } catch RegistryError.notFound {
            throw notFound
        }
        let task = try await finishRemoval(of: block, force: force)
        return Outcome(taskId: task.id, result: task.result)
    }

    /// Stops a deleting block's instances and tears down its third-party system (the init program in mode
    /// `remove`), then drops its record, events and reservations. When the teardown fails the block stays
    /// `Deleting` with the reason, and removing it again retries (`force` deletes it regardless).
    @discardableResult
    func finishRemoval(of block: BlockRecord, force: Bool = false) async throws -> TaskRecord {
        await instances.stop(blockId: block.blockId)
        if let component = try await registry.component(uri: block.componentURI.description),
           let initContainer = InitContainerSpec(component: component.spec) {
            do {
                try await thirdParty.teardown(block, spec: initContainer, force: force)
            } catch let failure as ThirdPartyDeployer.TeardownFailure {
                let reason = "\(failure.description); the block is kept: fix the cause and remove it again, or remove it with \"force\": true to delete it without cleanup"
                _ = try? await registry.transition(blockId: block.blockId) { block, _ in
                    var block = block
                    block.reason = reason
                    return BlockTransition(block: block, events: [BlockEvent(type: .removalBlocked, message: reason)])
                }
                throw APIError(.conflict, "block \"\(block.blockId)\" was not removed: \(reason)",
                               fields: [FieldError(path: "blockId", message: "its third-party system could not be torn down")])
            }
        }
        let task = TaskRecord(action: "removeBlock", subject: block.blockId, status: .completed,
                              result: ["blockId": .string(block.blockId), "removed": true])
        do {
            try await registry.deleteBlock(id: block.blockId, task: task)
        } catch RegistryError.notFound {
            // A concurrent removal of the same block finished first.
        }
        await instances.forget(blockId: block.blockId)
        await policies?.release(owner: block.blockId)
        logger.info("block removed", metadata: ["blockId": "\(block.blockId)"])
        return task
    }

    /// A component that runs only as a process cannot run where placement would put it when that cluster's driver
    /// runs images only (a Kubernetes cluster): a 400 naming the component, before anything is stored.
    private func refuseUnrunnable(_ component: ComponentRecord, plan: PlacementService.Plan, spec: BlockSpec) async throws {
        guard OCIImageSpec(component: component.spec) == nil else { return }
        let clusters = try await registry.clusters()
        let imageOnly = clusters.filter { instances.drivers[InstanceDrivers.name(for: $0)]?.refusal(for: .command) != nil }
        guard !imageOnly.isEmpty, case .placed(let clusterId, _, _) = try await placement.dryRun(plan),
              let cluster = imageOnly.first(where: { $0.id == clusterId }) else { return }
        let driver = InstanceDrivers.name(for: cluster)
        throw APIError.validation([FieldError(
            path: spec.valuesPath / "blockComponentURI",
            message: "component \(spec.componentURI) runs only as a process on the platform's host, and the block would be placed on cluster \(clusterId), whose \(driver) driver runs OCI images only: \(instances.drivers[driver]?.refusal(for: .command) ?? ""); or narrow the block's clusterQuery to other clusters")])
    }

    /// A block may name a registered custom policy only where its kind is used (a load balancer cannot be an autoscaler).
    private func checkCustomPolicyKinds(_ resolved: ResolvedBlock, spec: BlockSpec) async throws {
        guard let policies else { return }
        var errors: [FieldError] = []
        for kind in PolicyKind.allCases {
            guard let uri = resolved.policies[kind.rawValue]?["policyRuleURI"]?.stringValue, let registered = await policies.policy(uri: uri),
                  registered.definition.kind != kind else { continue }
            let location = BlockSpec.policyLocation(kind.rawValue, values: spec.values, valuesPath: spec.valuesPath)
            errors.append(FieldError(path: location / "policyRuleURI",
                                     message: "\(uri) is a registered \(registered.definition.kind.rawValue) policy; it cannot serve as \(kind.rawValue)"))
        }
        if !errors.isEmpty { throw APIError.validation(errors) }
    }

    /// Finishes work that a crash interrupted, in this order: what the drivers run is reconciled with the records,
    /// blocks left in `Deleting` are removed, blocks left in `Pending` or `Placing` are placed, and every
    /// placed block gets its instances again.
    public func resumeInterruptedWork() async throws {
        try await instances.reconcile()
        for block in try await registry.blocks() {
            switch block.phase {
            case .deleting:
                logger.notice("finishing interrupted removal", metadata: ["blockId": "\(block.blockId)"])
                do {
                    try await finishRemoval(of: block)
                } catch {
                    // One block that cannot be removed must not keep the platform from starting.
                    logger.error("cannot finish the removal; the block stays Deleting", metadata: ["blockId": "\(block.blockId)", "error": "\(error)"])
                }
            case .initializing:
                logger.notice("resuming interrupted init program: cleaning up, then deploying again", metadata: ["blockId": "\(block.blockId)"])
                do {
                    if let component = try await registry.component(uri: block.componentURI.description) {
                        _ = try await startPlaced(block, component: component.spec, afterInterruptedInit: true)
                    }
                } catch {
                    logger.error("cannot resume the block's init program", metadata: ["blockId": "\(block.blockId)", "error": "\(error)"])
                }
            case .pending, .placing:
                logger.notice("resuming interrupted placement", metadata: ["blockId": "\(block.blockId)"])
                do {
                    let plan = try await placement.plan(blockId: block.blockId, instances: block.desiredInstances, values: block.spec,
                                                        valuesPath: .root, resolved: block.resolved)
                    let placed = try await placement.place(blockId: block.blockId, plan: plan)
                    if let component = try await registry.component(uri: block.componentURI.description) {
                        _ = try await startPlaced(placed, component: component.spec)
                    } else {
                        await instances.start(placed)  // records that the component is missing
                    }
                } catch {
                    // One block that cannot be placed again fails alone; the platform still starts.
                    let why = (error as? APIError).map { "its placement policies no longer check: \($0.message)" }
                        ?? "its interrupted placement could not be resumed: \(error)"
                    logger.error("cannot resume the block's placement", metadata: ["blockId": "\(block.blockId)", "error": "\(error)"])
                    _ = try? await registry.transition(blockId: block.blockId) { block, _ in
                        var block = block
                        block.phase = .failed
                        block.reason = why
                        return BlockTransition(block: block, events: [BlockEvent(type: .placementFailed, message: why)])
                    }
                }
            default:
                break
            }
        }
        try await instances.startAll()
    }

    // MARK: Errors

    private func mapRegistryErrors(field id: String, path: String, _ body: () async throws -> Void) async throws {
        do {
            try await body()
        } catch let error as RegistryError {
            switch error {
            case .duplicate(let kind, _):
                throw APIError(.conflict, "\(kind) \"\(id)\" already exists", fields: [FieldError(path: path, message: "duplicate \(kind)")])
            case .notFound(let kind, _):
                throw APIError(.notFound, "\(kind) \"\(id)\" does not exist", fields: [FieldError(path: path, message: "no such \(kind)")])
            }
        }
    }
}
