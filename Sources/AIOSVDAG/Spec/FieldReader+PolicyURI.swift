import AIOSModel

extension FieldReader {
    /// Reads an optional `policyRuleURI`: a non-empty string without whitespace (it names a stored policy).
    mutating func policyURI(_ object: [String: JSONValue], at path: FieldPath) -> String? {
        guard let uri = string(object, "policyRuleURI", at: path) else { return nil }
        if uri.isEmpty {
            fail(path / "policyRuleURI", "must not be empty; omit it instead")
            return nil
        }
        if uri.contains(where: \.isWhitespace) {
            fail(path / "policyRuleURI", "must not contain whitespace")
            return nil
        }
        return uri
    }
}
