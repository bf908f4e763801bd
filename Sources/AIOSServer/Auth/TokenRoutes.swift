import AIOSAuth
import AIOSModel
import Hummingbird

/// `POST /api/tokens` (issues a token, shown once), `GET /api/tokens`, `DELETE /api/tokens/{id}` (revokes it at
/// once). All admin-only (`RouteAccess`).
struct TokenRoutes {
    let authority: TokenAuthority?

    func add(to router: Router<BasicRequestContext>) {
        let authority = self.authority
        @Sendable func enabled() throws -> TokenAuthority {
            guard let authority else {
                throw APIError(.conflict, "authentication is off (aios up --auth off): there are no tokens to manage")
            }
            return authority
        }
        router.post("api/tokens") { request, _ -> Response in
            let tokenRequest = try TokenRequest.read(try await HTTPAPI.document(from: request))
            let (record, token) = try await enabled().issue(tokenRequest)
            guard case .object(var view) = record.json else { return Response.json(record.json) }
            view["token"] = .string(token)
            view["note"] = "the token is shown this once; the platform keeps only its hash"
            var response = Response.json(.object(view))
            response.status = .created
            return response
        }
        router.get("api/tokens") { _, _ -> Response in
            Response.json(.array(try enabled().list().map(\.json)))
        }
        router.delete("api/tokens/:id") { _, context -> Response in
            let id = try context.parameters.require("id")
            try await enabled().revoke(id: id)
            return Response.json(["revoked": .string(id)])
        }
    }
}
