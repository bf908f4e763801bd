import AIOSModel

/// One entry of a block's resolved `policies`: `{policyRuleURI, parameters, settings}`, and where it was written.
public struct PolicyRule: Sendable {
    public var kind: PolicyKind
    public var uri: String?
    public var parameters: [String: JSONValue]
    public var settings: [String: JSONValue]
    /// Where the rule's values sit in the submitted spec (or in the component, for inherited rules).
    public var location: FieldPath

    public init(kind: PolicyKind, uri: String?, parameters: [String: JSONValue], settings: [String: JSONValue], location: FieldPath) {
        self.kind = kind
        self.uri = uri
        self.parameters = parameters
        self.settings = settings
        self.location = location
    }

    /// Reads `policies[kind]`; `nil` when the block has none of that kind. Errors name the bad field.
    public static func read(_ policies: [String: JSONValue], kind: PolicyKind, location: FieldPath) throws(APIError) -> PolicyRule? {
        guard let entry = policies[kind.rawValue], !entry.isNull else { return nil }
        guard let object = entry.objectValue else {
            throw APIError.validation([FieldError(path: location, message: "expected {policyRuleURI, parameters, settings}, got \(entry.typeName)")])
        }
        var reader = FieldReader()
        let uri = reader.string(object, "policyRuleURI", at: location)
        let parameters = reader.object(object, "parameters", at: location) ?? [:]
        let settings = reader.object(object, "settings", at: location) ?? [:]
        if let uri, let named = PolicyRecord.kind(ofURI: uri), named != kind.rawValue {
            reader.fail(location / "policyRuleURI", "names a \(named) policy but is used as \(kind.rawValue)")
        }
        try reader.check()
        return PolicyRule(kind: kind, uri: uri, parameters: parameters, settings: settings, location: location)
    }
}
