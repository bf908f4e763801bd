import AIOSModel

/// How a node finds the block that runs it: a named block (`manualBlockId`) or a search over blocks
/// (`assignmentPolicyRule{policyRuleURI, parameters{filter, ...}}`, which must select exactly one).
public enum VDAGAssignment: Sendable, Equatable {
    case manual(blockId: String)
    /// `filter` is the filter query object from `parameters.filter`; `parameters` holds the rule's parameters
    /// (including `filter`), for the assignment policy.
    case filter(policyURI: String?, filter: JSONValue, parameters: [String: JSONValue])

    /// Reads the node's assignment. Exactly one of `manualBlockId` and `assignmentPolicyRule` must be given;
    /// a missing or doubled assignment is reported at the node's `spec.values`.
    static func read(_ values: [String: JSONValue], at path: FieldPath, reader: inout FieldReader) -> VDAGAssignment? {
        let hasManual = !(values["manualBlockId"]?.isNull ?? true)
        let hasRule = !(values["assignmentPolicyRule"]?.isNull ?? true)
        switch (hasManual, hasRule) {
        case (false, false):
            reader.fail(path, "the node needs an assignment: give manualBlockId (a block id) or assignmentPolicyRule {policyRuleURI, parameters: {filter: {...}}}")
            return nil
        case (true, true):
            reader.fail(path, "give either manualBlockId or assignmentPolicyRule, not both")
            // Still check both, so their own problems show up in the same reply.
            _ = readManual(values, at: path, reader: &reader)
            _ = readRule(values, at: path, reader: &reader)
            return nil
        case (true, false):
            return readManual(values, at: path, reader: &reader)
        case (false, true):
            return readRule(values, at: path, reader: &reader)
        }
    }

    private static func readManual(_ values: [String: JSONValue], at path: FieldPath, reader: inout FieldReader) -> VDAGAssignment? {
        guard let id = reader.string(values, "manualBlockId", at: path, required: true) else { return nil }
        if let problem = BlockID.problem(id) {
            reader.fail(path / "manualBlockId", "not a block id: \(problem)")
            return nil
        }
        return .manual(blockId: id)
    }

    private static func readRule(_ values: [String: JSONValue], at path: FieldPath, reader: inout FieldReader) -> VDAGAssignment? {
        guard let rule = reader.object(values, "assignmentPolicyRule", at: path, required: true) else { return nil }
        let rulePath = path / "assignmentPolicyRule"
        let before = reader.errors.count
        let uri = reader.policyURI(rule, at: rulePath)
        let parameters = reader.object(rule, "parameters", at: rulePath, required: true)
        let filter = parameters.flatMap { reader.object($0, "filter", at: rulePath / "parameters", required: true) }
        guard reader.errors.count == before, let parameters, let filter else { return nil }
        return .filter(policyURI: uri, filter: .object(filter), parameters: parameters)
    }
}
