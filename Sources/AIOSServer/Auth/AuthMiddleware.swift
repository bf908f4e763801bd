import AIOSAuth
import AIOSModel
import AIOSSplits
import Hummingbird
import Logging

/// Enforces bearer tokens on every route but `/healthz` (see `RouteAccess`), refuses cross-origin browser
/// mutations, and writes each mutation and each refusal to the audit log.
///
/// 401 when the token is missing or not valid, 403 when it lacks the route's scope: decided before routing, so
/// neither answer tells whether the resource exists.
struct AuthMiddleware<Context: RequestContext>: RouterMiddleware {
    /// `nil`: authentication is off (`aios up --auth off`, loopback only).
    let authority: TokenAuthority?
    let audit: AuditLog
    let artifacts: ArtifactURLSigner

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let isMutation = !(request.method == .get || request.method == .head)
        let path = request.uri.path
        if isMutation, let refusal = BrowserOrigin.refusal(request) {
            return refuse(APIError(.forbidden, refusal), request, tokenId: nil, context: context)
        }
        guard let authority else {
            return try await audited(request, tokenId: nil, isMutation: isMutation, context: context, next: next)
        }
        var scope: AccessScope
        switch RouteAccess.of(method: request.method, path: path) {
        case .open:
            return try await next(request, context)
        case .artifact(let sha256):
            if let signature = request.uri.queryParameters.get("sig"), artifacts.isValid(sha256: sha256, signature: signature) {
                return try await next(request, context)
            }
            scope = .read
        case .scope(let needed):
            scope = needed
        }
        guard let token = Self.bearerToken(request) else {
            return refuse(APIError(.unauthenticated, "this route needs a bearer token: send the header Authorization: Bearer <token> (aios up wrote its admin token to DATA_DIR/tokens/admin.token)"),
                          request, tokenId: nil, context: context)
        }
        let record: AccessTokenRecord
        switch authority.verify(token) {
        case .success(let verified):
            record = verified
        case .failure(let refusal):
            context.logger.info("token refused", metadata: ["path": "\(path)", "why": "\(refusal)"])
            return refuse(APIError(.unauthenticated, "the bearer token is not valid (unknown, revoked or expired)"),
                          request, tokenId: refusal.claimedId, context: context, outcome: "\(refusal)")
        }
        guard record.grants(scope) else {
            return refuse(APIError(.forbidden, "\(request.method) \(path) needs a token with the \(scope.rawValue) scope; this token has \(record.scopes.sorted().map(\.rawValue).joined(separator: ", "))"),
                          request, tokenId: record.id, context: context)
        }
        return try await RequestPrincipal.$enforced.withValue(true) {
            try await RequestPrincipal.$current.withValue(record) {
                try await audited(request, tokenId: record.id, isMutation: isMutation, context: context, next: next)
            }
        }
    }

    /// Runs the request, recording a mutation's outcome (an error's status included) in the audit log.
    private func audited(_ request: Request, tokenId: String?, isMutation: Bool, context: Context,
                         next: (Request, Context) async throws -> Response) async throws -> Response {
        guard isMutation else { return try await next(request, context) }
        let entry = { (status: Int, outcome: String) in
            audit.record(.init(tokenId: tokenId ?? (authority == nil ? "auth-off" : nil), method: "\(request.method)",
                               path: request.uri.path, status: status, outcome: outcome))
        }
        do {
            let response = try await next(request, context)
            entry(Int(response.status.code), response.status.code < 400 ? "ok" : "refused")
            return response
        } catch let error as APIError {
            entry(error.httpStatus, error.code.rawValue)
            throw error
        } catch let error as HTTPError {
            entry(Int(error.status.code), "refused")
            throw error
        } catch {
            entry(500, "failed")
            throw error
        }
    }

    private func refuse(_ error: APIError, _ request: Request, tokenId: String?, context: Context, outcome: String? = nil) -> Response {
        audit.record(.init(tokenId: tokenId, method: "\(request.method)", path: request.uri.path,
                           status: error.httpStatus, outcome: outcome ?? error.code.rawValue))
        var response = Response.error(error)
        if error.code == .unauthenticated {
            response.headers[.wwwAuthenticate] = "Bearer realm=\"aios\""
        }
        return response
    }

    /// The token of an `Authorization: Bearer <token>` header.
    static func bearerToken(_ request: Request) -> String? {
        guard let header = request.headers[.authorization] else { return nil }
        let parts = header.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
        return parts[1].trimmingCharacters(in: .whitespaces)
    }
}
