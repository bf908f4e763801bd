import AIOSModel
import Hummingbird

/// The scope each HTTP route needs. Decided from the method and path alone, before routing, so a refusal never
/// tells whether the resource (or even the route) exists.
enum RouteAccess: Equatable {
    /// Served without a token.
    case open
    /// An artifact, served to a holder of its signed URL or of a `read` token.
    case artifact(sha256: String)
    case scope(AccessScope)

    static func of(method: HTTPRequest.Method, path: String) -> RouteAccess {
        let parts = path.split(separator: "/", omittingEmptySubsequences: true)
        let isRead = method == .get || method == .head
        if isRead, parts == ["healthz"] { return .open }
        if parts.first == "v1" { return .scope(.infer) }
        if isRead, parts.count == 3, parts[0] == "api", parts[1] == "artifacts" { return .artifact(sha256: String(parts[2])) }
        guard parts.first == "api", parts.count >= 2 else { return .scope(isRead ? .read : .deploy) }
        switch parts[1] {
        case "tokens":
            return .scope(.admin)
        case "nodeMetrics" where !isRead:
            // A node token pushes its own cluster's nodes' metrics; the handler checks the cluster.
            return .scope(.node)
        case "createCluster", "addNode":
            return .scope(isRead ? .read : .admin)
        case "registries":
            return .scope(isRead ? .read : .admin)
        default:
            return .scope(isRead ? .read : .deploy)
        }
    }
}
