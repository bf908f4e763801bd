import AIOSBlock
import AIOSGateway
import AIOSModel
import AIOSVDAG
import AIOSWire
import Foundation
import Hummingbird

/// The vDAG HTTP surface: `POST /api/createvDAG` and `/api/removevDAG` (AIOS parser actions), `GET /api/vdags`
/// and `/api/vdags/{uri}`, AIOS's `POST /vdag-controller/{clusterId}` (`create_controller`,
/// `remove_controller`, `list_controllers`), `GET /api/vdag-controllers`, and inference through a controller at
/// `POST /v1/vdags/{controllerId}/infer` (the `/v1/infer` body without `block_id`).
struct VDAGRoutes {
    let vdags: VDAGService

    func add(to router: Router<BasicRequestContext>) {
        let vdags = self.vdags
        router.post("api/createvDAG") { request, _ -> Response in
            Response.json(try await vdags.create(try await HTTPAPI.document(from: request)).reply)
        }
        router.post("api/removevDAG") { request, _ -> Response in
            Response.json(try await vdags.remove(try await HTTPAPI.document(from: request)).reply)
        }
        router.get("api/vdags") { _, _ -> Response in
            Response.json(try await vdags.list())
        }
        router.get("api/vdags/:uri") { _, context -> Response in
            let uri = try context.parameters.require("uri")
            return Response.json(try await vdags.describe(uri: uri.removingPercentEncoding ?? uri))
        }
        router.get("api/vdag-controllers") { _, _ -> Response in
            Response.json(try await vdags.controllers())
        }
        router.post("vdag-controller/:cluster") { request, context -> Response in
            let cluster = try context.parameters.require("cluster")
            return Response.json(try await vdags.controllerAction(clusterId: cluster, try await HTTPAPI.document(from: request)))
        }
        router.post("v1/vdags/:controller/infer") { request, context -> Response in
            let id = try context.parameters.require("controller")
            do throws(InferenceError) {
                guard let controller = await vdags.controller(id: id) else {
                    throw InferenceError(.notFound, "no vDAG controller \"\(id)\" serves here")
                }
                let (_, packet, timeout) = try await RESTInference.read(request, requireBlock: false)
                let reply = try await controller.infer(packet, clientTimeout: timeout)
                return .json([
                    "success": true, "vdag_controller_id": .string(id), "vdagURI": .string(controller.vdagURI),
                    "session_id": .string(reply.sessionID), "seq_no": .number(Double(reply.seqNo)), "ts": .number(reply.ts),
                    "data": JSONValue.decodeJSON(Data(reply.data.utf8)) ?? .string(reply.data),
                    "files": .array(reply.files.map { ["metadata": .string($0.metadata), "file_data": .string($0.fileData.base64EncodedString())] }),
                ])
            } catch {
                return error.response
            }
        }
    }
}
