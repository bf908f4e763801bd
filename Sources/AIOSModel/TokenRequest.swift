import Foundation

/// `POST /api/tokens`: `{"name", "scopes": [...], "clusterId"?, "expiresInSeconds"? | "expiresAt"?}`.
public struct TokenRequest: Sendable, Equatable {
    public var name: String
    public var scopes: Set<AccessScope>
    public var clusterId: String?
    public var expiresAt: Date?

    /// The longest life a token may be given: ten years.
    public static let maxLifetime: TimeInterval = 10 * 365 * 86_400

    public static func read(_ document: JSONValue, now: Date = Date()) throws(APIError) -> TokenRequest {
        guard let body = document.objectValue else {
            throw APIError.validation([FieldError(path: .root, message: "expected {\"name\", \"scopes\", \"clusterId\"?, \"expiresInSeconds\"?}, got \(document.typeName)")])
        }
        var reader = FieldReader()
        let known: Set<String> = ["name", "scopes", "clusterId", "expiresInSeconds", "expiresAt"]
        reader.rejectUnknownFields(body, known: known, at: .root)
        let name = reader.string(body, "name", at: .root, required: true) ?? ""
        if name.isEmpty || name.count > 128 { reader.fail(.root / "name", "expected 1 to 128 characters") }
        var scopes: Set<AccessScope> = []
        let allowed = AccessScope.allCases.map(\.rawValue).joined(separator: ", ")
        switch body["scopes"] {
        case .array(let items) where !items.isEmpty:
            for (index, item) in items.enumerated() {
                if let text = item.stringValue, let scope = AccessScope(rawValue: text) {
                    scopes.insert(scope)
                } else {
                    reader.fail(.root / "scopes" / index, "expected one of \(allowed), got \(item.jsonString())")
                }
            }
        case nil: reader.fail(.root / "scopes", "required: a non-empty array of \(allowed)")
        default: reader.fail(.root / "scopes", "expected a non-empty array of \(allowed)")
        }
        let clusterId = reader.string(body, "clusterId", at: .root, required: false)
        if scopes.contains(.node), clusterId == nil {
            reader.fail(.root / "clusterId", "a node token names the cluster whose metrics it may push")
        }
        if clusterId != nil, !scopes.contains(.node) {
            reader.fail(.root / "clusterId", "only a token with the node scope names a cluster")
        }
        var expiresAt: Date?
        if let seconds = body["expiresInSeconds"] {
            if let value = seconds.numberValue, value >= 1, value <= maxLifetime {
                expiresAt = now.addingTimeInterval(value)
            } else {
                reader.fail(.root / "expiresInSeconds", "expected a number of seconds in 1...\(Int(maxLifetime))")
            }
        }
        if let text = reader.string(body, "expiresAt", at: .root, required: false) {
            if expiresAt != nil {
                reader.fail(.root / "expiresAt", "give expiresAt or expiresInSeconds, not both")
            } else if let date = ISO8601DateFormatter().date(from: text), date > now, date.timeIntervalSince(now) <= maxLifetime {
                expiresAt = date
            } else {
                reader.fail(.root / "expiresAt", "expected a future ISO 8601 time (e.g. 2027-01-31T00:00:00Z) within ten years")
            }
        }
        try reader.check()
        return TokenRequest(name: name, scopes: scopes, clusterId: clusterId, expiresAt: expiresAt)
    }
}
