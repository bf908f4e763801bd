import AIOSModel
import AIOSRuntime
import AIOSStore
import Foundation
import Logging

/// `POST /api/executeMgmtCommand` (AIOS: `blockId, service, mgmtCommand, mgmtData, instanceId?`) and
/// parameter updates: commands go to the block's instances, one or all, and every instance's answer comes
/// back; new parameters are stored with the block first, so instances started later get them too.
public struct BlockManagement: Sendable {
    public let registry: any Registry
    public let executors: Executors
    public let instances: InstanceManager
    public let scaler: BlockScaler?
    public let logger: Logger

    public init(registry: any Registry, executors: Executors, instances: InstanceManager, scaler: BlockScaler?, logger: Logger) {
        self.registry = registry
        self.executors = executors
        self.instances = instances
        self.scaler = scaler
        self.logger = logger
    }

    /// The services a command may address.
    public enum Service: String, CaseIterable {
        /// The instances' `management(action, data)` (AIOS's `instances`; also the default).
        case instances
        /// The block's executor: `get_current_mapping`, `status`.
        case executor
    }

    public func execute(_ document: JSONValue) async throws -> JSONValue {
        let envelope = try SpecEnvelope(document: document)
        let values = envelope.values, path = envelope.valuesPath
        var reader = FieldReader()
        let blockId = reader.string(values, "blockId", at: path, required: true)
        let serviceName = reader.string(values, "service", at: path)
        let command = reader.string(values, "mgmtCommand", at: path, required: true)
        let instanceId = reader.string(values, "instanceId", at: path)
        let data = values["mgmtData"] ?? [:]
        var service = Service.instances
        if let serviceName, !serviceName.isEmpty {
            if let known = Service(rawValue: serviceName) {
                service = known
            } else {
                reader.fail(path / "service", "unknown service \"\(serviceName)\"; this platform serves \(Service.allCases.map(\.rawValue).joined(separator: ", "))")
            }
        }
        try reader.check()
        guard let blockId, let command else { return .null }
        let block = try await existingBlock(blockId, at: path / "blockId")

        switch service {
        case .executor:
            if command == "scale" {
                guard let scaler, let count = data["instances"]?.intValue else {
                    throw APIError.validation([FieldError(path: path / "mgmtData" / "instances", message: "scale needs {\"instances\": N}")])
                }
                let result = try await scaler.scale(block, to: count)
                return ["success": true, "blockId": .string(block.blockId), "data": ["scaled": .string(result)]]
            }
            return try executorCommand(command, block: block, at: path / "mgmtCommand")
        case .instances:
            if command == "set_parameters" || command == "update_parameters" {
                guard let parameters = data.objectValue else {
                    throw APIError.validation([FieldError(path: path / "mgmtData", message: "set_parameters needs an object of parameters, got \(data.typeName)")])
                }
                return try await setParameters(block, parameters, at: path / "mgmtData", instanceId: instanceId, instancePath: path / "instanceId")
            }
            let connections = try self.connections(block, instanceId: instanceId, at: path / "instanceId")
            let answers = await Management.manage(connections, action: command, data: data)
            logger.info("management command sent", metadata: ["blockId": "\(blockId)", "command": "\(command)", "instances": "\(answers.count)"])
            return reply(block, answers)
        }
    }

    /// `POST /api/blocks/{id}/parameters` with the parameters object (bare or as `{"parameters": {...}}`).
    public func setParameters(blockId: String, _ document: JSONValue) async throws -> JSONValue {
        guard var parameters = document.objectValue else {
            throw APIError.validation([FieldError(path: .root, message: "expected an object of parameters, got \(document.typeName)")])
        }
        var path = FieldPath.root
        if parameters.count == 1, let inner = parameters["parameters"]?.objectValue {
            parameters = inner
            path = path / "parameters"
        }
        let block = try await existingBlock(blockId, at: FieldPath(dotted: "blockId"))
        return try await setParameters(block, parameters, at: path, instanceId: nil, instancePath: .root)
    }

    /// The block's parameters after the update, checked against its component's parameter protocol as
    /// `createBlock` checks them: a value the component refuses is never stored (the next start would fail).
    private func checkedParameters(_ block: BlockRecord, _ parameters: [String: JSONValue], at path: FieldPath) async throws -> [String: JSONValue] {
        let merged = block.resolved.parameters.merging(parameters) { _, new in new }
        guard let component = try await registry.component(uri: block.componentURI.description) else {
            throw APIError(.conflict, "component \(block.componentURI) of block \(block.blockId) is not registered; its parameters cannot be checked")
        }
        let errors = ProtocolTemplate(fields: component.spec.section("componentInitParametersProtocol")).validate(merged, at: path)
        if !errors.isEmpty { throw APIError.validation(errors) }
        return merged
    }

    private func setParameters(_ block: BlockRecord, _ parameters: [String: JSONValue], at path: FieldPath, instanceId: String?, instancePath: FieldPath) async throws -> JSONValue {
        _ = try await checkedParameters(block, parameters, at: path)
        if let instanceId { _ = try self.connections(block, instanceId: instanceId, at: instancePath) }
        // Stored before it is applied: an instance that starts meanwhile reads the new parameters.
        let keys = parameters.keys.sorted().joined(separator: ", ")
        _ = try await registry.transition(blockId: block.blockId) { current, _ in
            var updated = current
            updated.resolved.parameters.merge(parameters) { _, new in new }
            return BlockTransition(block: updated, events: [BlockEvent(type: .parametersUpdated, message: "parameters \(keys) updated")])
        }
        await instances.refreshBlockFiles(blockId: block.blockId)
        // Taken after the files are rewritten: an instance that became ready meanwhile gets the call too.
        let connections = try self.connections(block, instanceId: instanceId, at: instancePath)
        let answers = await Management.updateParameters(connections, parameters: parameters)
        logger.info("parameters updated", metadata: ["blockId": "\(block.blockId)", "keys": "\(keys)", "instances": "\(answers.count)"])
        var result = reply(block, answers).objectValue ?? [:]
        result["parameters"] = .object(block.resolved.parameters.merging(parameters) { _, new in new })
        return .object(result)
    }

    private func executorCommand(_ command: String, block: BlockRecord, at path: FieldPath) throws -> JSONValue {
        guard let executor = executors.executor(for: block.blockId) else {
            throw APIError(.conflict, "block \(block.blockId) has no running executor (phase \(block.phase.rawValue))")
        }
        switch command {
        case "get_current_mapping", "status":
            return ["success": true, "blockId": .string(block.blockId),
                    "data": .object(executor.snapshot.mapValues(JSONValue.string))]
        default:
            throw APIError.validation([FieldError(path: path, message: "the executor knows get_current_mapping, status and scale, not \"\(command)\"")])
        }
    }

    private func existingBlock(_ blockId: String, at path: FieldPath) async throws -> BlockRecord {
        guard let block = try await registry.block(id: blockId) else {
            throw APIError(.notFound, "block \"\(blockId)\" does not exist", fields: [FieldError(path: path, message: "no such block")])
        }
        return block
    }

    /// The serving instances addressed: one by id, or all.
    private func connections(_ block: BlockRecord, instanceId: String?, at path: FieldPath) throws -> [InstanceConnection] {
        let serving = executors.executor(for: block.blockId)?.connections(instanceId: instanceId) ?? []
        if let instanceId, serving.isEmpty {
            let known = block.instances.contains { $0.instanceId == instanceId }
            throw APIError(known ? .conflict : .notFound,
                           known ? "instance \(instanceId) of block \(block.blockId) is not serving (not ready)" : "block \(block.blockId) has no instance \"\(instanceId)\"",
                           fields: [FieldError(path: path, message: known ? "not serving" : "no such instance")])
        }
        return serving
    }

    /// Every instance's answer, and the instances that could not be asked because they are not serving.
    private func reply(_ block: BlockRecord, _ answers: [Management.Answer]) -> JSONValue {
        let asked = Set(answers.map(\.instanceId))
        let notServing = block.instances.map(\.instanceId).filter { !asked.contains($0) }
        return [
            "success": .bool(answers.allSatisfy { if case .success = $0.result { true } else { false } }),
            "blockId": .string(block.blockId),
            "data": .array(answers.map(\.json)),
            "notServing": .array(notServing.map(JSONValue.string)),
        ]
    }
}
