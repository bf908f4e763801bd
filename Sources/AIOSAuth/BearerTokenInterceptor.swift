import AIOSModel
import GRPCCore

/// Enforces bearer tokens on a gRPC server (the inference gateway, vDAG controllers): metadata
/// `authorization: Bearer <token>` with a scope that grants `scope`. UNAUTHENTICATED without a valid token,
/// PERMISSION_DENIED without the scope; refusals go to the audit log.
public struct BearerTokenInterceptor: ServerInterceptor {
    public let authority: TokenAuthority
    public let scope: AccessScope
    public let audit: AuditLog

    public init(authority: TokenAuthority, scope: AccessScope, audit: AuditLog) {
        self.authority = authority
        self.scope = scope
        self.audit = audit
    }

    public func intercept<Input: Sendable, Output: Sendable>(
        request: StreamingServerRequest<Input>,
        context: ServerContext,
        next: @Sendable (StreamingServerRequest<Input>, ServerContext) async throws -> StreamingServerResponse<Output>
    ) async throws -> StreamingServerResponse<Output> {
        let method = context.descriptor.fullyQualifiedMethod
        guard let header = request.metadata["authorization"].first(where: { _ in true }).flatMap(Self.text) else {
            refused(method, tokenId: nil, status: 401, outcome: "unauthenticated")
            throw RPCError(code: .unauthenticated, message: "this service needs a bearer token: send the metadata authorization: Bearer <token>")
        }
        let parts = header.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else {
            refused(method, tokenId: nil, status: 401, outcome: "unauthenticated")
            throw RPCError(code: .unauthenticated, message: "the authorization metadata must read Bearer <token>")
        }
        switch authority.verify(String(parts[1])) {
        case .failure(let refusal):
            refused(method, tokenId: refusal.claimedId, status: 401, outcome: "\(refusal)")
            throw RPCError(code: .unauthenticated, message: "the bearer token is not valid (unknown, revoked or expired)")
        case .success(let record):
            guard record.grants(scope) else {
                refused(method, tokenId: record.id, status: 403, outcome: "forbidden")
                throw RPCError(code: .permissionDenied, message: "\(method) needs a token with the \(scope.rawValue) scope")
            }
            return try await RequestPrincipal.$enforced.withValue(true) {
                try await RequestPrincipal.$current.withValue(record) {
                    try await next(request, context)
                }
            }
        }
    }

    private func refused(_ method: String, tokenId: String?, status: Int, outcome: String) {
        audit.record(.init(tokenId: tokenId, method: "gRPC", path: "/" + method, status: status, outcome: outcome))
    }

    private static func text(_ value: Metadata.Value) -> String? {
        if case .string(let text) = value { return text }
        return nil
    }
}
