import AIOSModel
import AIOSPolicy

/// A block's `loadBalancer`, `autoscaler` and `stabilityChecker` policies, checked once when the block is
/// created: every bad value is an error naming its field, where a running block would only note it and
/// use the default (`ExecutorSettings(block:)`, `AutoscalerSettings(block:)` and `StabilitySettings(block:)`
/// stay lenient, so blocks stored before a check was added still load).
///
/// A policy URI that is not a built-in is not an error: it resolves to its kind's built-in, and `notes`
/// says so, as the block's events do.
public struct BlockPolicySettings: Sendable, Equatable {
    public var executor: ExecutorSettings
    /// `nil` when the block has no autoscaler policy (it stays at `minInstances`).
    public var autoscaler: AutoscalerSettings?
    public var stability: StabilitySettings
    /// What is worth telling about the policies chosen (e.g. a URI that resolved to a built-in).
    public var notes: [String]

    /// Checks the policies of a block created from `spec`: errors name fields where the spec wrote them,
    /// `body.spec.values.policyRulesSpec[0].values.settings.max_queued_requests`, or
    /// `(component).policies.<kind>` for a policy the block inherits from its component.
    public init(validating block: ResolvedBlock, spec: BlockSpec) throws(APIError) {
        try self.init(validating: block) { kind in
            BlockSpec.policyLocation(kind.rawValue, values: spec.values, valuesPath: spec.valuesPath)
        }
    }

    /// Checks `block`'s policies; `location` says where each kind's rule sits in the submitted document
    /// (by default `policies.<kind>`, as in the resolved block).
    public init(validating block: ResolvedBlock,
                location: (PolicyKind) -> FieldPath = { FieldPath(dotted: "policies") / $0.rawValue }) throws(APIError) {
        var errors: [FieldError] = []
        func rule(_ kind: PolicyKind) -> PolicyRule? {
            do {
                return try PolicyRule.read(block.policies, kind: kind, location: location(kind))
            } catch {
                errors += error.fields
                return nil
            }
        }
        func check(_ kind: PolicyKind, _ reader: PolicyValueReader) {
            let base = location(kind)
            errors += reader.problems.map { FieldError(path: FieldPath(base.components + $0.field.components), message: $0.message) }
        }

        var executorReader = PolicyValueReader()
        executor = ExecutorSettings(block: block, rule: rule(.loadBalancer), reader: &executorReader)
        check(.loadBalancer, executorReader)
        executor.note = executorReader.remarks.isEmpty ? nil : executorReader.remarks.joined(separator: "; ")

        var autoscalerReader = PolicyValueReader()
        autoscaler = rule(.autoscaler).map { AutoscalerSettings(rule: $0, reader: &autoscalerReader) }
        check(.autoscaler, autoscalerReader)
        autoscaler?.notes = autoscalerReader.remarks

        var stabilityReader = PolicyValueReader()
        stability = StabilitySettings(rule: rule(.stabilityChecker), reader: &stabilityReader)
        check(.stabilityChecker, stabilityReader)
        stability.notes = stabilityReader.remarks

        if !errors.isEmpty { throw APIError.validation(errors) }
        notes = executorReader.remarks + autoscalerReader.remarks + stabilityReader.remarks
    }
}
