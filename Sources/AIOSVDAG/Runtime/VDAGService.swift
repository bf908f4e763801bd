import AIOSBlock
import AIOSModel
import AIOSPolicy
import AIOSRuntime
import AIOSStore
import AIOSWire
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Logging

/// vDAGs and their controllers: `createvDAG` validates the graph and assigns a block to every node (storing
/// nothing for `validateGraph` and dry runs); a controller (AIOS `create_controller`) serves one vDAG's
/// `vDAGInferenceService` on a port of its own and `POST /v1/vdags/{id}/infer`, and comes back with
/// `aios up` on the same port.
public actor VDAGService {
    /// A controller that serves: its runner and its gRPC server.
    public struct Running {
        var record: VDAGControllerRecord
        var controller: VDAGController
        var server: GRPCServer<HTTP2ServerTransport.Posix>
        var serving: Task<Void, Never>
        var address: String
    }

    private let registry: any Registry
    private let executors: Executors
    private let host: String
    private let security: GRPCServerSecurity
    private let logger: Logger
    /// Registered custom policies: assignment, pre/post-processing and quota rules may name them.
    private let policies: CustomPolicies?
    private var running: [String: Running] = [:]
    /// Controllers being created: their ids are taken while the create suspends.
    private var creating: Set<String> = []
    private var shuttingDown = false

    public init(registry: any Registry, executors: Executors, host: String, security: GRPCServerSecurity = .none, policies: CustomPolicies? = nil, logger: Logger) {
        self.policies = policies
        self.registry = registry
        self.executors = executors
        self.host = host
        self.security = security
        self.logger = logger
    }

    // MARK: vDAGs

    /// Nodes whose `assignmentPolicyRule` names a registered custom policy get its choice among the blocks
    /// their filter matched (`{node, candidates}` in, `{block_id}` out); a failed or impossible answer keeps
    /// the built-in's (least loaded) choice, and the notes say so.
    private func customAssignment(_ spec: VDAGSpec, blocks: [VDAGBlockCandidate], assignment: [String: String]) async -> ([String: String], [String]) {
        guard let policies else { return (assignment, []) }
        var assignment = assignment
        var notes: [String] = []
        for node in spec.nodes {
            guard case .filter(let uri?, _, let parameters) = node.assignment, await policies.isRegistered(uri) else { continue }
            let matches = VDAGAssigner.matches(node, blocks: blocks)
            let rule = PolicyRule(kind: .assignment, uri: uri, parameters: parameters, settings: [:], location: node.path)
            let input: JSONValue = [
                "node": ["label": .string(node.label), "builtInChoice": assignment[node.label].map(JSONValue.string) ?? .null],
                "candidates": .array(matches.map { ["block_id": .string($0.blockId), "document": $0.document, "load": .number($0.load), "serving": .bool($0.serving)] }),
            ]
            let owner = "vdag:\(spec.uri.description)"
            switch await policies.evaluate(rule, owner: owner, input: input) {
            case .decided(let result):
                switch PolicyOutputs.block(result, offered: Set(matches.map(\.blockId))) {
                case .success(let blockId):
                    assignment[node.label] = blockId
                    notes.append("node \(node.label): assignment policy \(uri) chose block \(blockId)")
                case .failure(let failure):
                    await policies.rejectOutput(rule, owner: owner, failure)
                    notes.append("node \(node.label): assignment policy \(uri) failed (\(failure)); the built-in chose \(assignment[node.label] ?? "-")")
                }
            case .failed(let failure):
                notes.append("node \(node.label): assignment policy \(uri) failed (\(failure)); the built-in chose \(assignment[node.label] ?? "-")")
            case .builtIn:
                break
            }
        }
        return (assignment, notes)
    }

    public func create(_ document: JSONValue) async throws -> ActionOutcome {
        let spec = try VDAGSpec(envelope: SpecEnvelope(document: document))
        let graph = Self.graphView(spec.graph)
        if spec.mode == .validateGraph {
            // The graph is valid; the assignment is reported, and its problems do not fail the check.
            var result: [String: JSONValue] = ["vdagURI": .string(spec.uri.description), "valid": true, "graph": graph]
            do {
                let blocks = try await candidates()
                let (assignment, _) = await customAssignment(spec, blocks: blocks, assignment: try VDAGAssigner.assign(spec, blocks: blocks))
                result["assignment"] = .object(assignment.mapValues(JSONValue.string))
            } catch let error as APIError {
                result["assignmentProblems"] = .array(error.fields.map { ["path": .string($0.path), "message": .string($0.message)] })
            }
            return ActionOutcome(taskId: "", result: .object(result))
        }
        let blocks = try await candidates()
        let (assignment, assignmentNotes) = await customAssignment(spec, blocks: blocks, assignment: try VDAGAssigner.assign(spec, blocks: blocks))
        let plan = try VDAGPlan(spec: spec, assignment: assignment)
        var result: [String: JSONValue] = [
            "vdagURI": .string(spec.uri.description), "assignment": .object(assignment.mapValues(JSONValue.string)),
            "graph": graph, "notes": .array((assignmentNotes + plan.notes).map(JSONValue.string)),
        ]
        guard spec.isStored else {
            result["dryRun"] = true
            return ActionOutcome(taskId: "", result: .object(result))
        }
        let task = TaskRecord(action: "createvDAG", subject: spec.uri.description, status: .completed, result: .object(result))
        do {
            try await registry.addVDAG(VDAGRecord(uri: spec.uri.description, document: spec.values, assignment: assignment), task: task)
        } catch RegistryError.duplicate {
            throw APIError(.conflict, "vDAG \"\(spec.uri)\" already exists; remove it first or give a new vdagVersion",
                           fields: [FieldError(path: spec.valuesPath / "vdagName", message: "duplicate vDAG")])
        }
        logger.info("vDAG created", metadata: ["vdagURI": "\(spec.uri)", "assignment": "\(assignment)"])
        return ActionOutcome(taskId: task.id, result: .object(result))
    }

    /// `removevDAG {vdagURI}`: refused while a controller serves it.
    public func remove(_ document: JSONValue) async throws -> ActionOutcome {
        let envelope = try SpecEnvelope(document: document)
        var reader = FieldReader()
        let uri = reader.string(envelope.values, "vdagURI", at: envelope.valuesPath, required: true)
        try reader.check()
        guard let uri else { throw APIError.validation(reader.errors) }
        return try await remove(uri: uri, path: envelope.valuesPath)
    }

    /// Removes a stored vDAG; refused while a controller serves it.
    public func remove(uri: String, path: FieldPath = .root) async throws -> ActionOutcome {
        let users = try await registry.vdagControllers().filter { $0.vdagURI == uri }.map(\.id)
        guard users.isEmpty else {
            throw APIError(.conflict, "vDAG \"\(uri)\" is served by controller(s) \(users.joined(separator: ", ")); remove them first",
                           fields: [FieldError(path: path / "vdagURI", message: "in use")])
        }
        let task = TaskRecord(action: "removevDAG", subject: uri, status: .completed, result: ["vdagURI": .string(uri), "removed": true])
        do {
            try await registry.deleteVDAG(uri: uri, task: task)
        } catch RegistryError.notFound {
            throw APIError(.notFound, "vDAG \"\(uri)\" does not exist", fields: [FieldError(path: path / "vdagURI", message: "no such vDAG")])
        }
        return ActionOutcome(taskId: task.id, result: task.result)
    }

    /// Every block as a filter document `{"block", "component", "cluster"}`, with its current load.
    private func candidates() async throws -> [VDAGBlockCandidate] {
        let blocks = try await registry.blocks()
        var components: [String: JSONValue] = [:]
        var clusters: [String: JSONValue] = [:]
        var result: [VDAGBlockCandidate] = []
        for block in blocks where block.phase != .deleting {
            let uri = block.componentURI.description
            if components[uri] == nil { components[uri] = try await registry.component(uri: uri).map { .object($0.spec.document) } ?? .null }
            let clusterId = block.placement.clusterId ?? ""
            if clusters[clusterId] == nil { clusters[clusterId] = try await registry.cluster(id: clusterId).map { $0.assembled } ?? .null }
            let document: JSONValue = [
                "block": ["blockId": .string(block.blockId), "componentURI": .string(uri), "phase": .string(block.phase.rawValue),
                          "minInstances": .number(Double(block.minInstances)), "maxInstances": .number(Double(block.maxInstances)),
                          "blockInitData": .object(block.resolved.blockInitData), "parameters": .object(block.resolved.parameters)],
                "component": components[uri] ?? .null,
                "cluster": clusters[clusterId] ?? .null,
            ]
            let load = executors.executor(for: block.blockId).map { executor -> Double in
                let now = executor.metrics().block
                return Double(now.inFlight + now.queued)
            } ?? 0
            result.append(VDAGBlockCandidate(blockId: block.blockId, document: document, load: load,
                                             serving: block.phase == .ready || block.phase == .degraded))
        }
        return result
    }

    public static func graphView(_ graph: VDAGGraph) -> JSONValue {
        [
            "inputs": .array(graph.inputs.map(JSONValue.string)), "outputs": .array(graph.outputs.map(JSONValue.string)),
            "order": .array(graph.order.map(JSONValue.string)),
            "parents": .object(graph.parents.mapValues { .array($0.map(JSONValue.string)) }),
        ]
    }

    // MARK: Controllers

    /// `POST /vdag-controller/{clusterId}` `{"action": "create_controller" | "remove_controller" | "list_controllers", "payload"}`.
    public func controllerAction(clusterId: String, _ document: JSONValue) async throws -> JSONValue {
        guard let body = document.objectValue else {
            throw APIError.validation([FieldError(path: "", message: "expected {\"action\", \"payload\"}, got \(document.typeName)")])
        }
        var reader = FieldReader()
        let action = reader.string(body, "action", at: .root, required: true)
        let payload = reader.object(body, "payload", at: .root) ?? [:]
        try reader.check()
        switch action {
        case "create_controller":
            return try await createController(clusterId: clusterId, payload: payload)
        case "remove_controller":
            return try await removeController(payload: payload)
        case "list_controllers":
            return ["success": true, "data": .array(try await registry.vdagControllers().filter { $0.clusterId == clusterId }.map(view))]
        default:
            throw APIError.validation([FieldError(path: "action", message: "unknown action \"\(action ?? "")\"; expected create_controller, remove_controller or list_controllers")])
        }
    }

    private func createController(clusterId: String, payload: [String: JSONValue]) async throws -> JSONValue {
        var reader = FieldReader()
        let path = FieldPath.root / "payload"
        let id = reader.string(payload, "vdag_controller_id", at: path, required: true)
        if let id, let problem = BlockID.problem(id) { reader.fail(path / "vdag_controller_id", problem) }
        let uri = reader.string(payload, "vdag_uri", at: path, required: true)
        let config = reader.object(payload, "config", at: path) ?? [:]
        let port = reader.int(config, "port", at: path / "config", minimum: 0)
        if let port, port > 65535 { reader.fail(path / "config" / "port", "must be a TCP port (0 to 65535), got \(port)") }
        try reader.check()
        guard let id, let uri else { throw APIError.validation(reader.errors) }
        return try await createController(id: id, vdagURI: uri, clusterId: clusterId, config: config)
    }

    /// Starts a controller serving the stored vDAG `vdagURI` (`config.port`: its gRPC port, 0 or none for a free
    /// one) and stores it, so it comes back with `aios up`.
    public func createController(id: String, vdagURI uri: String, clusterId: String, config: [String: JSONValue] = [:]) async throws -> JSONValue {
        let path = FieldPath.root / "payload"
        var config = config
        let port = config["port"]?.intValue
        guard try await registry.cluster(id: clusterId) != nil else {
            throw APIError(.notFound, "cluster \"\(clusterId)\" does not exist")
        }
        guard let vdag = try await registry.vdag(uri: uri) else {
            throw APIError(.notFound, "vDAG \"\(uri)\" does not exist; create it with createvDAG first",
                           fields: [FieldError(path: path / "vdag_uri", message: "no such vDAG")])
        }
        guard !shuttingDown else { throw APIError(.conflict, "aios is shutting down") }
        guard running[id] == nil, !creating.contains(id) else {
            throw APIError(.conflict, "vDAG controller \"\(id)\" already exists", fields: [FieldError(path: path / "vdag_controller_id", message: "duplicate controller")])
        }
        creating.insert(id)
        defer { creating.remove(id) }
        // Serve first (the port may be taken), then store with the port it got, so a restart keeps it.
        let record = VDAGControllerRecord(id: id, vdagURI: uri, clusterId: clusterId, config: config)
        var started = try await start(record, vdag: vdag, port: port ?? 0)
        config["port"] = .number(Double(started.address.split(separator: ":").last.flatMap { Int($0) } ?? 0))
        started.record.config = config
        let task = TaskRecord(action: "create_controller", subject: id, status: .completed, result: view(started))
        do {
            try await registry.addVDAGController(started.record, task: task)
        } catch {
            await stop(started)
            if case RegistryError.duplicate = error {
                throw APIError(.conflict, "vDAG controller \"\(id)\" already exists", fields: [FieldError(path: path / "vdag_controller_id", message: "duplicate controller")])
            }
            throw error
        }
        guard !shuttingDown else {
            await stop(started)
            throw APIError(.conflict, "aios is shutting down")
        }
        running[id] = started
        logger.info("vDAG controller serving", metadata: ["controllerId": "\(id)", "vdagURI": "\(uri)", "grpc": "\(started.address)"])
        return ["success": true, "data": view(started)]
    }

    private func removeController(payload: [String: JSONValue]) async throws -> JSONValue {
        var reader = FieldReader()
        let id = reader.string(payload, "vdag_controller_id", at: .root / "payload", required: true)
        try reader.check()
        guard let id else { throw APIError.validation(reader.errors) }
        return try await removeController(id: id)
    }

    /// Stops and removes a controller.
    public func removeController(id: String) async throws -> JSONValue {
        guard !creating.contains(id) else { throw APIError(.conflict, "vDAG controller \"\(id)\" is being created; remove it once that finished") }
        let task = TaskRecord(action: "remove_controller", subject: id, status: .completed, result: ["vdag_controller_id": .string(id), "removed": true])
        do {
            try await registry.deleteVDAGController(id: id, task: task)
        } catch RegistryError.notFound {
            throw APIError(.notFound, "vDAG controller \"\(id)\" does not exist", fields: [FieldError(path: "payload.vdag_controller_id", message: "no such controller")])
        }
        if let controller = running.removeValue(forKey: id) { await stop(controller) }
        return ["success": true, "data": task.result]
    }

    /// Builds the controller's runner from the stored vDAG and starts its gRPC server on `port` (0: a free one).
    private func start(_ record: VDAGControllerRecord, vdag: VDAGRecord, port: Int) async throws -> Running {
        let spec = try VDAGSpec(envelope: SpecEnvelope(document: .object(vdag.document)))
        let plan = try VDAGPlan(spec: spec, assignment: vdag.assignment)
        let executors = self.executors
        let runner = VDAGRunner(plan: plan, policies: policies) { blockId, packet, deadline throws(InferenceError) in
            guard let executor = executors.executor(for: blockId) else {
                throw InferenceError(.unavailable, "block \(blockId) is not running (removed, or its instances are not started)")
            }
            return try await executor.infer(packet, deadline: deadline)
        }
        let controller = VDAGController(id: record.id, runner: runner)
        let server = security.server(host: host, port: port, maxRequestBytes: InstanceConnection.maxMessageBytes,
                                     services: [VDAGInferenceGRPCService(controller: controller)])
        let logger = self.logger
        let serving = Task {
            do {
                try await server.serve()
            } catch {
                logger.error("vDAG controller's gRPC server stopped", metadata: ["controllerId": "\(record.id)", "error": "\(error)"])
            }
        }
        let address: String
        do {
            guard let bound = try await server.listeningAddress?.ipv4 else { throw APIError(.internalError, "no IPv4 address") }
            address = "\(bound.host):\(bound.port)"
        } catch {
            server.beginGracefulShutdown()
            await serving.value
            throw APIError(.conflict, "vDAG controller \"\(record.id)\" cannot listen on \(host):\(port): \(error)",
                           fields: [FieldError(path: "payload.config.port", message: "cannot listen")])
        }
        return Running(record: record, controller: controller, server: server, serving: serving, address: address)
    }

    /// Graceful: requests in flight get up to 5 s to finish, then the server is cancelled.
    private func stop(_ controller: Running) async {
        controller.server.beginGracefulShutdown()
        let serving = controller.serving
        let finished = await Deadline.run(seconds: 5) { await serving.value; return true }
        if finished == nil {
            serving.cancel()
            await serving.value
        }
    }

    /// After `aios up` starts: every stored controller serves again, on the port it had.
    public func startAll() async {
        do {
            for record in try await registry.vdagControllers() where running[record.id] == nil {
                guard let vdag = try await registry.vdag(uri: record.vdagURI) else { continue }
                do {
                    running[record.id] = try await start(record, vdag: vdag, port: record.config["port"]?.intValue ?? 0)
                    logger.info("vDAG controller serving again", metadata: ["controllerId": "\(record.id)", "grpc": "\(running[record.id]?.address ?? "")"])
                } catch {
                    logger.error("cannot start the vDAG controller", metadata: ["controllerId": "\(record.id)", "error": "\(error)"])
                }
            }
        } catch {
            logger.error("cannot read the vDAG controllers", metadata: ["error": "\(error)"])
        }
    }

    public func shutdown() async {
        shuttingDown = true
        let all = running.values
        running = [:]
        for controller in all { await stop(controller) }
    }

    // MARK: Reads

    public func controller(id: String) -> VDAGController? {
        running[id]?.controller
    }

    private func view(_ record: VDAGControllerRecord) -> JSONValue {
        if let live = running[record.id] { return view(live) }
        return ["vdag_controller_id": .string(record.id), "vdag_uri": .string(record.vdagURI), "cluster_id": .string(record.clusterId),
                "config": .object(record.config), "serving": false]
    }

    private func view(_ controller: Running) -> JSONValue {
        [
            "vdag_controller_id": .string(controller.record.id), "vdag_uri": .string(controller.record.vdagURI),
            "cluster_id": .string(controller.record.clusterId), "config": .object(controller.record.config), "serving": true,
            "grpc_address": .string(controller.address), "rest_path": .string("/v1/vdags/\(controller.record.id)/infer"),
        ]
    }

    /// A vDAG with its assignment, its controllers and their request stats.
    public func describe(uri: String) async throws -> JSONValue {
        guard let vdag = try await registry.vdag(uri: uri) else { throw APIError(.notFound, "vDAG \"\(uri)\" does not exist") }
        let now = Date().timeIntervalSince1970
        let controllers = try await registry.vdagControllers().filter { $0.vdagURI == uri }.map { record -> JSONValue in
            var entry = view(record).objectValue ?? [:]
            if let live = running[record.id] {
                let stats = live.controller.runner.stats.snapshot
                entry["metrics"] = [
                    "requests": Self.summary(stats.total, now: now),
                    "nodes": .object(stats.nodes.mapValues { Self.summary($0, now: now) }),
                ]
            }
            return .object(entry)
        }
        return [
            "vdagURI": .string(vdag.uri), "assignment": .object(vdag.assignment.mapValues(JSONValue.string)),
            "spec": .object(vdag.document), "createdAt": JSONValue.time(vdag.createdAt), "controllers": .array(controllers),
        ]
    }

    public func list() async throws -> JSONValue {
        .array(try await registry.vdags().map { vdag in
            ["vdagURI": .string(vdag.uri), "assignment": .object(vdag.assignment.mapValues(JSONValue.string)), "createdAt": JSONValue.time(vdag.createdAt)]
        })
    }

    public func controllers() async throws -> JSONValue {
        .array(try await registry.vdagControllers().map(view))
    }

    public static func summary(_ stats: RequestStats, now: Double) -> JSONValue {
        let recent = stats.summary(window: 300, now: now)
        return [
            "total": .number(Double(stats.total)), "errors": .number(Double(stats.totalErrors)),
            "window_seconds": 300, "count": .number(Double(recent.count)), "window_errors": .number(Double(recent.errors)),
            "p50_ms": recent.p50.map { .number($0 * 1000) } ?? .null, "p99_ms": recent.p99.map { .number($0 * 1000) } ?? .null,
        ]
    }

    /// Prometheus lines for every serving controller and its nodes.
    public func prometheus() -> String {
        let now = Date().timeIntervalSince1970
        var lines = [
            "# HELP aios_vdag_requests_total Requests a vDAG controller (or one of its nodes) served, failed ones included.",
            "# TYPE aios_vdag_requests_total counter",
            "# HELP aios_vdag_errors_total Requests that failed.",
            "# TYPE aios_vdag_errors_total counter",
            "# HELP aios_vdag_latency_seconds Latency over the last 5 minutes.",
            "# TYPE aios_vdag_latency_seconds gauge",
        ]
        for (id, live) in running.sorted(by: { $0.key < $1.key }) {
            let stats = live.controller.runner.stats.snapshot
            let entries = [(nil, stats.total)] + stats.nodes.sorted { $0.key < $1.key }.map { (Optional($0.key), $0.value) }
            for (node, series) in entries {
                let labels = "controller=\"\(id)\",vdag=\"\(live.record.vdagURI)\"" + (node.map { ",node=\"\($0)\"" } ?? "")
                lines.append("aios_vdag_requests_total{\(labels)} \(series.total)")
                lines.append("aios_vdag_errors_total{\(labels)} \(series.totalErrors)")
                let summary = series.summary(window: 300, now: now)
                if let p50 = summary.p50 { lines.append("aios_vdag_latency_seconds{\(labels),quantile=\"0.5\"} \(p50)") }
                if let p99 = summary.p99 { lines.append("aios_vdag_latency_seconds{\(labels),quantile=\"0.99\"} \(p99)") }
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
