/// What a bearer token may do. A token holds one or more scopes.
///
/// - `admin`: everything, including clusters, nodes, container registries, tokens and components that run host
///   commands.
/// - `deploy`: components, blocks, vDAGs and split tasks (create, change, remove), and every read.
/// - `infer`: the inference fronts: the gRPC gateway, `/v1/infer`, the OpenAI-compatible routes, vDAG controllers.
/// - `read`: every `GET`.
/// - `node`: only `POST /api/nodeMetrics`, for the one cluster the token names.
public enum AccessScope: String, Sendable, Codable, CaseIterable, Comparable {
    case admin, deploy, infer, read, node

    public static func < (lhs: AccessScope, rhs: AccessScope) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }

    /// The scopes that grant `self`: a scope is granted by itself and by `admin`; `read` also by `deploy`.
    public var grantedBy: Set<AccessScope> {
        switch self {
        case .admin: [.admin]
        case .read: [.admin, .deploy, .read]
        case .deploy, .infer, .node: [.admin, self]
        }
    }
}
