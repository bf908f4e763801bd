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
            let headers = RequestView.policyHeaders(request.metadata.compactMap { entry -> (String, String)? in
                if case .string(let value) = entry.value { return (entry.key, value) }
                return nil
            })
            let outputs = try await gateway.infer(blockId: message.blockID, packet: packet, clientTimeout: GRPCTimeout.parse(request.metadata), headers: headers)
            return ServerResponse(message: Replies.single(outputs, request: packet))
        } catch {
            return ServerResponse(error: error.rpcError)
        }
    }
}
