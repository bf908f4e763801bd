/// A Kubernetes API call that failed: the API's answer (status code, its `Status` reason and message), or why
/// the server could not be reached.
public enum KubernetesError: Error, CustomStringConvertible, Sendable, Equatable {
    case status(code: Int, reason: String, message: String)
    case unreachable(String)
    /// A reply the client cannot read (not JSON, too large).
    case badReply(String)

    public var description: String {
        switch self {
        case .status(let code, let reason, let message): "HTTP \(code)\(reason.isEmpty ? "" : " \(reason)"): \(message)"
        case .unreachable(let reason): "cannot reach the API server: \(reason)"
        case .badReply(let reason): "unreadable reply from the API server: \(reason)"
        }
    }

    public var code: Int? {
        if case .status(let code, _, _) = self { return code }
        return nil
    }

    public var isNotFound: Bool { code == 404 }
    public var isConflict: Bool { code == 409 }
    /// 410 Gone: a watch's resourceVersion is too old; list again.
    public var isGone: Bool { code == 410 }

    /// Worth retrying after a pause: throttled, a server error, or a connection that failed.
    public var isTransient: Bool {
        switch self {
        case .status(let code, _, _): code == 429 || code >= 500
        case .unreachable: true
        case .badReply: false
        }
    }
}
