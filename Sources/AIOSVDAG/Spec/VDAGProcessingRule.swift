import AIOSModel

/// A node's `preprocessingPolicyRule` or `postprocessingPolicyRule`: `{policyRuleURI, parameters}`.
///
/// The rule runs on the packet before (pre) or after (post) the node's block; AIOS also passes it the
/// node's `modelParameters` as `settings.modelParameters`.
public struct VDAGProcessingRule: Sendable, Equatable {
    public var policyURI: String?
    public var parameters: [String: JSONValue]

    public init(policyURI: String?, parameters: [String: JSONValue] = [:]) {
        self.policyURI = policyURI
        self.parameters = parameters
    }

    /// Reads `values[key]`; `nil` when absent or bad (bad fields are reported to `reader`).
    static func read(_ values: [String: JSONValue], _ key: String, at path: FieldPath, reader: inout FieldReader) -> VDAGProcessingRule? {
        guard let rule = reader.object(values, key, at: path) else { return nil }
        let rulePath = path / key
        let before = reader.errors.count
        let uri = reader.policyURI(rule, at: rulePath)
        let parameters = reader.object(rule, "parameters", at: rulePath) ?? [:]
        guard reader.errors.count == before else { return nil }
        return VDAGProcessingRule(policyURI: uri, parameters: parameters)
    }
}
