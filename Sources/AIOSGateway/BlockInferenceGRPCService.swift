import AIOSBlock
import AIOSModel
import AIOSWire
import Foundation
import GRPCCore

/// `BlockInferenceService/infer`, wire-compatible with AIOS's inference server: a `BlockInferencePacket`
/// in, the block's `AIOSPacket` out, and a gRPC status with a message for every failure.
public struct BlockInferenceGRPCService: BlockInferenceService.ServiceProtocol {
    let gateway: InferenceGateway

    public init(gateway: InferenceGateway) {
        self.gateway = gateway
    }

    public func infer(request: ServerRequest<BlockInferencePacket>, context: ServerContext) async throws -> ServerResponse<AIOSPacket> {
        let message = request.message
        var packet = AIOSPacket()
        packet.sessionID = message.sessionID
        packet.seqNo = message.seqNo
        packet.data = message.data
        packet.ts = message.ts == 0 ? Date().timeIntervalSince1970 : message.ts
        packet.outputPtr = message.outputPtr
        packet.files = message.files
        do throws(InferenceError) {
            let outputs = try await gateway.infer(blockId: message.blockID, packet: packet, clientTimeout: GRPCTimeout.parse(request.metadata))
            return ServerResponse(message: Replies.single(outputs, request: packet))
        } catch {
            return ServerResponse(error: error.rpcError)
        }
    }
}

/// Shapes a block's outputs into the one reply AIOS clients expect.
public enum Replies {
    /// One output is the reply; several (a preprocessing step that made several entries) become one
    /// packet whose `data` is a JSON array of their data; none becomes an empty reply to the request.
    public static func single(_ outputs: [AIOSPacket], request: AIOSPacket) -> AIOSPacket {
        if outputs.count == 1 { return outputs[0] }
        var reply = AIOSPacket()
        reply.sessionID = request.sessionID
        reply.seqNo = request.seqNo
        reply.ts = Date().timeIntervalSince1970
        reply.outputPtr = outputs.first?.outputPtr ?? ""
        reply.data = JSONValue.array(outputs.map { JSONValue.decodeJSON(Data($0.data.utf8)) ?? .string($0.data) }).jsonString()
        reply.files = outputs.flatMap(\.files)
        return reply
    }
}
