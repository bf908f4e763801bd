import Foundation

/// A bearer token as the platform stores it: never the token itself, only the SHA-256 of its secret part.
///
/// A token reads `aios_<id>_<secret>`: the id finds the record (so a revoked or unknown token is told apart in the
/// audit log without a scan), the secret proves possession.
public struct AccessTokenRecord: Sendable, Equatable {
    public var id: String
    public var name: String
    public var scopes: Set<AccessScope>
    /// For `node` tokens: the one cluster whose nodes' metrics the token may push.
    public var clusterId: String?
    /// Hex SHA-256 of the secret part.
    public var secretHash: String
    public var createdAt: Date
    public var expiresAt: Date?

    public init(id: String, name: String, scopes: Set<AccessScope>, clusterId: String?, secretHash: String,
                createdAt: Date = Date(), expiresAt: Date? = nil) {
        self.id = id
        self.name = name
        self.scopes = scopes
        self.clusterId = clusterId
        self.secretHash = secretHash
        self.createdAt = createdAt
        self.expiresAt = expiresAt
    }

    public func isExpired(at now: Date = Date()) -> Bool {
        expiresAt.map { $0 <= now } ?? false
    }

    /// Whether the token holds a scope that grants `scope`.
    public func grants(_ scope: AccessScope) -> Bool {
        !scopes.isDisjoint(with: scope.grantedBy)
    }

    /// What reads of tokens show: everything but the hash.
    public var json: JSONValue {
        var object: [String: JSONValue] = [
            "id": .string(id), "name": .string(name),
            "scopes": .array(scopes.sorted().map { .string($0.rawValue) }),
            "createdAt": .string(ISO8601DateFormatter().string(from: createdAt)),
        ]
        if let clusterId { object["clusterId"] = .string(clusterId) }
        if let expiresAt { object["expiresAt"] = .string(ISO8601DateFormatter().string(from: expiresAt)) }
        return .object(object)
    }
}
