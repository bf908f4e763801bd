import GRPCCore

/// Adds `authorization: Bearer <token>` to every RPC a client makes (the gateway and vDAG controllers need it).
public struct BearerTokenClientInterceptor: ClientInterceptor {
    public let token: String

    public init(token: String) {
        self.token = token
    }

    public func intercept<Input: Sendable, Output: Sendable>(
        request: StreamingClientRequest<Input>,
        context: ClientContext,
        next: (StreamingClientRequest<Input>, ClientContext) async throws -> StreamingClientResponse<Output>
    ) async throws -> StreamingClientResponse<Output> {
        var request = request
        request.metadata.replaceOrAddString("Bearer \(token)", forKey: "authorization")
        return try await next(request, context)
    }
}
