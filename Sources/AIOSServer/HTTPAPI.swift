import AIOSBlock
import AIOSGateway
import AIOSMetrics
import AIOSModel
import AIOSRuntime
import AIOSSplits
import AIOSVDAG
import AIOSWire
import Foundation
import Hummingbird
import Logging

/// The management plane's HTTP API: the AIOS parser actions (`POST /api/<action>`) and resource reads.
struct HTTPAPI: Sendable {
    public static let maxBodyBytes = 8 * 1024 * 1024

    /// The parser actions this server serves, by their AIOS names.
    static let actions: [String: @Sendable (ControlPlane, JSONValue) async throws -> ControlPlane.Outcome] = [
        "addComponent": { try await $0.addComponent($1) },
        "createCluster": { try await $0.createCluster($1) },
        "addNode": { try await $0.addNode($1) },
        "createBlock": { try await $0.createBlock($1) },
        "removeBlock": { try await $0.removeBlock($1) },
        "nodeMetrics": { try await $0.recordNodeMetrics($1) },
    ]

    let controlPlane: ControlPlane
    let gateway: InferenceGateway
    let sampler: ProcessSampler
    let vdags: VDAGService
    let splits: SplitService
    let registries: ContainerRegistries
    let scaler: BlockScaler?
    let security: PlatformSecurity
    let policies: PolicyRegistrations?

    init(controlPlane: ControlPlane, gateway: InferenceGateway, sampler: ProcessSampler, vdags: VDAGService, splits: SplitService,
         registries: ContainerRegistries, scaler: BlockScaler?, security: PlatformSecurity, policies: PolicyRegistrations? = nil) {
        self.security = security
        self.policies = policies
        self.registries = registries
        self.scaler = scaler
        self.controlPlane = controlPlane
        self.gateway = gateway
        self.sampler = sampler
        self.vdags = vdags
        self.splits = splits
    }

    public func router() -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.middlewares.add(ErrorMiddleware())
        router.middlewares.add(AuthMiddleware(authority: security.authority, audit: security.audit, artifacts: security.artifacts))
        router.middlewares.add(LogRequestsMiddleware(.debug))

        router.get("healthz") { _, _ -> Response in Response.json(["status": "ok"]) }

        let management = BlockManagement(registry: controlPlane.registry, executors: gateway.executors, instances: controlPlane.instances, scaler: scaler, logger: controlPlane.logger)
        router.post("api/executeMgmtCommand") { request, _ -> Response in
            Response.json(try await management.execute(try await Self.document(from: request)))
        }
        router.post("api/blocks/:id/parameters") { request, context -> Response in
            let id = try context.parameters.require("id")
            return Response.json(try await management.setParameters(blockId: id, try await Self.document(from: request)))
        }
        GatewayRoutes(gateway: gateway, generators: splits).add(to: router)

        let blockMetrics = BlockMetricsReader(registry: controlPlane.registry, executors: gateway.executors, instances: controlPlane.instances,
                                              sampler: sampler, metrics: controlPlane.metrics)
        router.get("api/blocks/:id/metrics") { _, context -> Response in
            let id = try context.parameters.require("id")
            guard let block = try await controlPlane.registry.block(id: id) else {
                throw APIError(.notFound, "block \"\(id)\" does not exist")
            }
            return Response.json(blockMetrics.document(await blockMetrics.sample(block)))
        }
        router.get("metrics") { _, _ -> Response in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                     body: ResponseBody(byteBuffer: ByteBuffer(string: try await blockMetrics.prometheus() + (await vdags.prometheus()))))
        }

        VDAGRoutes(vdags: vdags).add(to: router)
        SplitRoutes(splits: splits).add(to: router)
        registries.addRoutes(to: router)
        policies?.addRoutes(to: router)
        TokenRoutes(authority: security.authority).add(to: router)

        router.post("api/:action") { request, context -> Response in
            let action = try context.parameters.require("action")
            guard let handler = Self.actions[action] else {
                throw APIError(.unknownAction, "unknown action \"\(action)\"; this server serves \((Self.actions.keys + ["executeMgmtCommand", "createvDAG", "removevDAG"]).sorted().joined(separator: ", "))")
            }
            let document = try await Self.document(from: request)
            return Response.json(try await handler(controlPlane, document).reply)
        }

        let registry = controlPlane.registry
        router.get("api/components") { _, _ -> Response in
            Response.json(.array(try await registry.components().map(Views.component)))
        }
        router.get("api/components/:uri") { _, context -> Response in
            let uri = try context.parameters.require("uri")
            guard let component = try await registry.component(uri: uri) else {
                throw APIError(.notFound, "component \"\(uri)\" does not exist")
            }
            return Response.json(Views.component(component))
        }
        let kubernetes = controlPlane.kubernetes
        router.get("api/clusters") { _, _ -> Response in
            var views: [JSONValue] = []
            for cluster in try await registry.clusters() { views.append(Views.cluster(cluster, status: await kubernetes?.status(of: cluster.id))) }
            return Response.json(.array(views))
        }
        router.get("api/clusters/:id") { _, context -> Response in
            let id = try context.parameters.require("id")
            guard let cluster = try await registry.cluster(id: id) else {
                throw APIError(.notFound, "cluster \"\(id)\" does not exist")
            }
            return Response.json(Views.cluster(cluster, status: await kubernetes?.status(of: id)))
        }
        let metrics = controlPlane.metrics
        router.get("api/clusters/:id/metrics") { _, context -> Response in
            let id = try context.parameters.require("id")
            guard try await registry.cluster(id: id) != nil else {
                throw APIError(.notFound, "cluster \"\(id)\" does not exist")
            }
            return Response.json(await metrics.document(clusterId: id))
        }
        router.get("api/blocks") { _, _ -> Response in
            var views: [JSONValue] = []
            for block in try await registry.blocks() {
                views.append(Views.block(block, events: try await registry.events(blockId: block.blockId), driver: await controlPlane.driverView(clusterId: block.placement.clusterId)))
            }
            return Response.json(.array(views))
        }
        router.get("api/blocks/:id") { _, context -> Response in
            let id = try context.parameters.require("id")
            guard let block = try await registry.block(id: id) else {
                throw APIError(.notFound, "block \"\(id)\" does not exist")
            }
            return Response.json(Views.block(block, events: try await registry.events(blockId: id), driver: await controlPlane.driverView(clusterId: block.placement.clusterId)))
        }
        router.get("api/blocks/:id/logs") { request, context -> Response in
            let id = try context.parameters.require("id")
            guard let block = try await registry.block(id: id) else {
                throw APIError(.notFound, "block \"\(id)\" does not exist")
            }
            let wanted = request.uri.queryParameters.get("instance")
            let offset = request.uri.queryParameters.get("offset", as: Int.self).map { max(0, $0) }
            let tail = max(0, min(request.uri.queryParameters.get("tail", as: Int.self) ?? 100, 100_000))
            let records = block.instances.filter { wanted == nil || $0.instanceId == wanted }
            // A third-party block's init program logs as instance "init".
            let initLog = controlPlane.thirdParty.logFile(id).path
            let hasInitLog = (wanted == nil || wanted == "init") && FileManager.default.fileExists(atPath: initLog)
            if let wanted, records.isEmpty, !hasInitLog {
                throw APIError(.notFound, "block \"\(id)\" has no instance \"\(wanted)\"")
            }
            var logs: [JSONValue] = []
            if hasInitLog {
                let chunk = InstanceLogs.read(initLog, offset: offset, tailLines: tail)
                logs.append(["instanceId": "init", "text": .string(InstanceLogs.redactingInitStages(chunk.text)), "nextOffset": .number(Double(chunk.nextOffset))])
            }
            // Instances' logs come from the driver that runs them.
            let driver = try await registry.cluster(id: block.placement.clusterId ?? "").flatMap { try? controlPlane.instances.drivers.driver(for: $0).get() }
            for record in records {
                let chunk = await driver?.log(of: record, offset: offset, tailLines: tail) ?? InstanceLogs.read(record.logPath, offset: offset, tailLines: tail)
                logs.append(["instanceId": .string(record.instanceId), "text": .string(chunk.text), "nextOffset": .number(Double(chunk.nextOffset))])
            }
            return Response.json(.array(logs))
        }
        router.get("api/tasks") { request, _ -> Response in
            let limit = request.uri.queryParameters.get("limit", as: Int.self) ?? 100
            return Response.json(.array(try await registry.tasks(limit: max(1, min(limit, 1000))).map(Views.task)))
        }
        router.get("api/tasks/:id") { _, context -> Response in
            let id = try context.parameters.require("id")
            guard let task = try await registry.task(id: id) else {
                throw APIError(.notFound, "task \"\(id)\" does not exist")
            }
            return Response.json(Views.task(task))
        }
        return router
    }

    /// Reads the request body as one JSON or YAML document.
    static func document(from request: Request, allowEmpty: Bool = false, limit: Int = maxBodyBytes) async throws -> JSONValue {
        var request = request
        let buffer = try await request.collectBody(upTo: limit)
        if allowEmpty, buffer.readableBytesView.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) { return [:] }
        let contentType = request.headers[.contentType]
        if let contentType, contentType.lowercased().hasPrefix("multipart/") {
            throw APIError(.unsupportedMediaType, "send the spec as a JSON or YAML body, not \(contentType)")
        }
        do {
            return try DocumentDecoder.decode(Data(buffer.readableBytesView), contentType: contentType)
        } catch {
            throw APIError(error.code, error.message, fields: error.fields.isEmpty ? [FieldError(path: .root, message: error.message)] : error.fields)
        }
    }
}
