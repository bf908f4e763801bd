import AIOSBlock
import AIOSGateway
import AIOSWire
import Foundation
import GRPCCore

/// `vDAGInferenceService/infer`, wire-compatible with AIOS's vDAG controller: a `vDAGInferencePacket` in,
/// the graph's output out (`frame_ptr` carried through), and a gRPC status naming the node for every failure
/// (`RESOURCE_EXHAUSTED` over the quota, `DEADLINE_EXCEEDED` past `maxOutputWaitTimeSeconds`).
public struct VDAGInferenceGRPCService: vDAGInferenceService.ServiceProtocol {
    let controller: VDAGController

    public init(controller: VDAGController) {
        self.controller = controller
    }

    public func infer(request: ServerRequest<vDAGInferencePacket>, context: ServerContext) async throws -> ServerResponse<vDAGInferencePacket> {
        let message = request.message
        var packet = AIOSPacket()
        packet.sessionID = message.sessionID
        packet.seqNo = message.seqNo
        packet.data = message.data
        packet.ts = message.ts
        packet.files = message.files.map { file in
            var info = FileInfo()
            info.metadata = file.metadata
            info.fileData = file.fileData
            return info
        }
        do throws(InferenceError) {
            let output = try await controller.infer(packet, clientTimeout: GRPCTimeout.parse(request.metadata))
            var reply = vDAGInferencePacket()
            reply.sessionID = output.sessionID
            reply.seqNo = output.seqNo
            reply.data = output.data
            reply.ts = output.ts
            reply.framePtr = message.framePtr
            reply.files = output.files.map { file in
                var info = vDAGFileInfo()
                info.metadata = file.metadata
                info.fileData = file.fileData
                return info
            }
            return ServerResponse(message: reply)
        } catch {
            return ServerResponse(error: error.rpcError)
        }
    }
}
