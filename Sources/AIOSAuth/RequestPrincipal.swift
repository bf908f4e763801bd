import AIOSModel

/// Who made the request being served: the verified token's record, set by the HTTP auth middleware and the gRPC
/// interceptor for the handlers that decide by it (admin-only components, a node token's cluster).
public enum RequestPrincipal {
    /// `nil` outside a request, and for every request when authentication is off.
    @TaskLocal public static var current: AccessTokenRecord?
    /// Whether authentication is enforced for the request being served.
    @TaskLocal public static var enforced = false

    /// Throws 403 unless the caller holds a scope that grants `scope` (always passes with authentication off).
    public static func require(_ scope: AccessScope, _ why: @autoclosure () -> String) throws(APIError) {
        guard enforced else { return }
        guard let current, current.grants(scope) else {
            throw APIError(.forbidden, "\(why()) needs a token with the \(scope.rawValue) scope")
        }
    }
}
