import AIOSRuntime
import Hummingbird

extension ContainerRegistries {
    /// `POST/GET /api/registries`, `GET/DELETE /api/registries/{id}`.
    func addRoutes<Context: RequestContext>(to router: Router<Context>) {
        let registries = self
        router.post("api/registries") { request, _ -> Response in
            Response.json(try await registries.put(try await HTTPAPI.document(from: request)))
        }
        router.get("api/registries") { _, _ -> Response in Response.json(try await registries.list()) }
        router.get("api/registries/:id") { _, context -> Response in
            Response.json(try await registries.get(try context.parameters.require("id")))
        }
        router.delete("api/registries/:id") { _, context -> Response in
            Response.json(try await registries.delete(try context.parameters.require("id")))
        }
    }
}
