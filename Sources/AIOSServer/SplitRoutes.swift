import AIOSAuth
import AIOSModel
import AIOSSplits
import Foundation
import Hummingbird

/// The split surface (`docs/model-plan.md`): `POST /api/splits`, `GET /api/splits[/{id}[/logs]]`,
/// `POST /api/splits/{id}/deploy` and the content-addressed artifacts at `GET /api/artifacts/{sha256}`.
struct SplitRoutes {
    let splits: SplitService

    func add(to router: Router<BasicRequestContext>) {
        let splits = self.splits
        router.post("api/splits") { request, _ -> Response in
            let document = try await HTTPAPI.document(from: request)
            if document["splitter"]?.objectValue != nil {
                try RequestPrincipal.require(.admin, "a custom splitter (splitter.command runs on the platform's host)")
            }
            var response = Response.json(try await splits.create(document))
            response.status = .accepted
            return response
        }
        router.get("api/splits") { _, _ -> Response in
            Response.json(try await splits.list())
        }
        router.get("api/splits/:id") { _, context -> Response in
            Response.json(try await splits.status(try context.parameters.require("id")))
        }
        router.get("api/splits/:id/logs") { request, context -> Response in
            let offset = request.uri.queryParameters.get("offset", as: Int.self).map { max(0, $0) }
            let tail = max(0, min(request.uri.queryParameters.get("tail", as: Int.self) ?? 100, 100_000))
            return Response.json(try await splits.logs(try context.parameters.require("id"), offset: offset, tail: tail))
        }
        router.post("api/splits/:id/deploy") { request, context -> Response in
            let id = try context.parameters.require("id")
            let document = try await HTTPAPI.document(from: request, allowEmpty: true)
            return Response.json(try await splits.deploy(id, document))
        }
        let fileIO = FileIO()
        router.get("api/artifacts/:sha256") { _, context -> Response in
            let sha256 = try context.parameters.require("sha256")
            guard let file = await splits.artifactFile(sha256) else {
                throw APIError(.notFound, "no artifact \(sha256) (artifacts are named by their SHA-256, 64 lowercase hex digits)")
            }
            let body = try await fileIO.loadFile(path: file.path, context: context)
            return Response(status: .ok, headers: [.contentType: "application/octet-stream", .eTag: "\"\(sha256)\""], body: body)
        }
    }
}
