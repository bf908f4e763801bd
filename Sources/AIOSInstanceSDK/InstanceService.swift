import AIOSModel
import AIOSWire
import Foundation
import GRPCCore

/// Serves an `InstanceBlock` over the instance protocol, turning every failure in user code into a
/// gRPC status with a message (never silence).
struct InstanceService<Block: InstanceBlock>: Aios_Instance_V1_Instance.SimpleServiceProtocol {
    let block: Block
    let parameters: ParameterStore

    func infer(request: Aios_Instance_V1_InferRequest, context: ServerContext) async throws -> Aios_Instance_V1_InferReply {
        var reply = Aios_Instance_V1_InferReply()
        for entry in try await preprocess(request.packet) {
            if let stream = block.inferStream(entry) {
                do {
                    for try await chunk in stream { reply.outputs.append(Self.output(entry, chunk)) }
                } catch {
                    throw Self.rpcError(error, in: "inferStream")
                }
            } else if let output = try await call("infer", { try await block.infer(entry) }) {
                reply.outputs.append(Self.output(entry, output))
            }
        }
        return reply
    }

    func inferStream(request: Aios_Instance_V1_InferRequest, response: RPCWriter<Aios_Instance_V1_InferReply>, context: ServerContext) async throws {
        for entry in try await preprocess(request.packet) {
            if let stream = block.inferStream(entry) {
                do {
                    for try await chunk in stream {
                        var reply = Aios_Instance_V1_InferReply()
                        reply.outputs = [Self.output(entry, chunk)]
                        try await response.write(reply)
                    }
                } catch let error as RPCError {
                    throw error
                } catch {
                    throw Self.rpcError(error, in: "inferStream")
                }
            } else if let output = try await call("infer", { try await block.infer(entry) }) {
                var reply = Aios_Instance_V1_InferReply()
                reply.outputs = [Self.output(entry, output)]
                try await response.write(reply)
            }
        }
    }

    func health(request: Aios_Instance_V1_HealthRequest, context: ServerContext) async throws -> Aios_Instance_V1_HealthReply {
        let health = await block.health()
        var reply = Aios_Instance_V1_HealthReply()
        reply.status = health.status
        reply.detailsJson = health.details.jsonString()
        return reply
    }

    func manage(request: Aios_Instance_V1_ManageRequest, context: ServerContext) async throws -> Aios_Instance_V1_ManageReply {
        guard !request.action.isEmpty else { throw RPCError(code: .invalidArgument, message: "action is required") }
        let data = try Self.json(request.dataJson, field: "data_json")
        var reply = Aios_Instance_V1_ManageReply()
        reply.resultJson = try await call("manage", { try await block.manage(action: request.action, data: data) }).jsonString()
        return reply
    }

    func updateParameters(request: Aios_Instance_V1_UpdateParametersRequest, context: ServerContext) async throws -> Aios_Instance_V1_UpdateParametersReply {
        guard case .object(let changes) = try Self.json(request.parametersJson, field: "parameters_json") else {
            throw RPCError(code: .invalidArgument, message: "parameters_json must be a JSON object")
        }
        let merged = await parameters.current.merging(changes) { _, new in new }
        let result = try await call("update", { try await block.update(parameters: merged) })
        // Kept only once the block accepted them.
        await parameters.replace(with: merged)
        var reply = Aios_Instance_V1_UpdateParametersReply()
        reply.parametersJson = JSONValue.object(merged).jsonString()
        reply.resultJson = result.jsonString()
        return reply
    }

    // MARK: Helpers

    private func preprocess(_ packet: AIOSPacket) async throws -> [PreprocessResult] {
        try await call("preprocess", { try await block.preprocess(packet) })
    }

    private func call<T>(_ method: String, _ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch {
            throw Self.rpcError(error, in: method)
        }
    }

    static func rpcError(_ error: any Error, in method: String) -> RPCError {
        if let error = error as? RPCError { return error }
        if let error = error as? InstanceError {
            let code: RPCError.Code = switch error.kind {
            case .invalidArgument: .invalidArgument
            case .failedPrecondition: .failedPrecondition
            case .unavailable: .unavailable
            case .unimplemented: .unimplemented
            case .internalError: .internalError
            }
            return RPCError(code: code, message: "\(method): \(error.message)")
        }
        return RPCError(code: .internalError, message: "\(method) raised \(type(of: error)): \(error)")
    }

    static func output(_ entry: PreprocessResult, _ value: JSONValue) -> AIOSPacket {
        var packet = entry.packet
        packet.sessionID = entry.sessionId
        packet.data = value.jsonString()
        return packet
    }

    static func json(_ text: String, field: String) throws -> JSONValue {
        if text.isEmpty { return [:] }
        guard let value = JSONValue.decodeJSON(Data(text.utf8)) else {
            throw RPCError(code: .invalidArgument, message: "\(field) is not valid JSON")
        }
        return value
    }
}

/// The instance's current parameters; updates merge into them.
actor ParameterStore {
    private(set) var current: [String: JSONValue]

    init(_ initial: [String: JSONValue]) {
        current = initial
    }

    func replace(with parameters: [String: JSONValue]) {
        current = parameters
    }
}
