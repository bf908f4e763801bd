import AIOSMetrics
import AIOSModel
import AIOSStore
import Foundation
import Logging

/// The management plane's actions over the registry. Each mutating action validates everything first,
/// then makes its change and its task record in one registry transaction: a rejected request stores nothing.
public struct ControlPlane: Sendable {
    /// The outcome of a mutating action: the AIOS reply `{"success": true, "task_id", "result"}`.
    public struct Outcome: Sendable {
        public var taskId: String
        public var result: JSONValue

        public var reply: JSONValue {
            ["success": true, "task_id": .string(taskId), "result": result]
        }
    }

    public static let localClusterId = "local"
    public static let localNodeId = "local"

    public let registry: any Registry
    let logger: Logger

    public init(registry: any Registry, logger: Logger) {
        self.registry = registry
        self.logger = logger
    }

    // MARK: Components

    public func addComponent(_ document: JSONValue) async throws -> Outcome {
        let envelope = try SpecEnvelope(document: document)
        let spec = try ComponentSpec(envelope: envelope)
        let task = TaskRecord(action: "addComponent", subject: spec.uri.description, status: .completed,
                              result: ["componentURI": .string(spec.uri.description)])
        try await mapRegistryErrors(field: spec.uri.description, path: (envelope.valuesPath / "componentId").description) {
            try await registry.addComponent(ComponentRecord(spec: spec), task: task)
        }
        logger.info("component added", metadata: ["componentURI": "\(spec.uri)"])
        return Outcome(taskId: task.id, result: task.result)
    }

    // MARK: Clusters

    public func createCluster(_ document: JSONValue) async throws -> Outcome {
        let envelope = try SpecEnvelope(document: document)
        let cluster = try ClusterSpec(envelope: envelope)
        let task = TaskRecord(action: "createCluster", subject: cluster.id, status: .completed,
                              result: ["clusterId": .string(cluster.id), "nodes": .number(Double(cluster.nodes.count))])
        try await mapRegistryErrors(field: cluster.id, path: (envelope.valuesPath / "id").description) {
            try await registry.createCluster(cluster, task: task)
        }
        logger.info("cluster created", metadata: ["clusterId": "\(cluster.id)", "nodes": "\(cluster.nodes.count)"])
        return Outcome(taskId: task.id, result: task.result)
    }

    public func addNode(_ document: JSONValue) async throws -> Outcome {
        let envelope = try SpecEnvelope(document: document)
        let request = try AddNodeRequest(envelope: envelope)
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

    public func createBlock(_ document: JSONValue) async throws -> Outcome {
        let spec = try BlockSpec(envelope: SpecEnvelope(document: document))
        guard let component = try await registry.component(uri: spec.componentURI.description) else {
            throw APIError(.notFound, "component \"\(spec.componentURI)\" does not exist; add it with addComponent first",
                           fields: [FieldError(path: spec.valuesPath / "blockComponentURI", message: "no such component")])
        }
        let resolved = try spec.resolve(with: component.spec)
        let block = BlockRecord(spec: spec, resolved: resolved)
        let result: JSONValue = ["blockId": .string(block.blockId), "phase": .string(block.phase.rawValue)]
        let task = TaskRecord(action: "createBlock", subject: block.blockId, status: .completed, result: result)
        let event = BlockEvent(type: "Created", message: "block created from \(spec.componentURI) with minInstances=\(spec.minInstances), maxInstances=\(spec.maxInstances); waiting for placement")
        try await mapRegistryErrors(field: block.blockId, path: (spec.valuesPath / "blockId").description) {
            try await registry.createBlock(block, event: event, task: task)
        }
        logger.info("block created", metadata: ["blockId": "\(block.blockId)", "componentURI": "\(spec.componentURI)"])
        return Outcome(taskId: task.id, result: result)
    }

    public func removeBlock(_ document: JSONValue) async throws -> Outcome {
        let envelope = try SpecEnvelope(document: document)
        var reader = FieldReader()
        let blockId = reader.string(envelope.values, "blockId", at: envelope.valuesPath, required: true)
        try reader.check()
        guard let blockId, var block = try await registry.block(id: blockId) else {
            throw APIError(.notFound, "block \"\(blockId ?? "")\" does not exist",
                           fields: [FieldError(path: envelope.valuesPath / "blockId", message: "no such block")])
        }
        if block.phase != .deleting {
            block.phase = .deleting
            block.reason = "removal requested"
            try await registry.updateBlock(block, event: BlockEvent(type: "Deleting", message: "removal requested"))
        }
        let task = try await finishRemoval(of: block)
        return Outcome(taskId: task.id, result: task.result)
    }

    /// Tears down what a deleting block still holds and drops its record.
    /// (Blocks hold no instances or reservations yet; those are released here when they exist.)
    @discardableResult
    func finishRemoval(of block: BlockRecord) async throws -> TaskRecord {
        let task = TaskRecord(action: "removeBlock", subject: block.blockId, status: .completed,
                              result: ["blockId": .string(block.blockId), "removed": true])
        try await registry.deleteBlock(id: block.blockId, task: task)
        logger.info("block removed", metadata: ["blockId": "\(block.blockId)"])
        return task
    }

    /// Finishes work that a crash interrupted: blocks left in `Deleting` are removed.
    public func resumeInterruptedWork() async throws {
        for block in try await registry.blocks() where block.phase == .deleting {
            logger.notice("finishing interrupted removal", metadata: ["blockId": "\(block.blockId)"])
            try await finishRemoval(of: block)
        }
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
