import AIOSModel
import AIOSPolicy

/// What a spec says that this platform does not use: unknown top-level fields and policy names. Reported in
/// the `warnings` of the `createBlock`/`addComponent` reply (each `{path, message}`), not refused: AIOS specs
/// carry fields of their own, and a misspelt one should still be seen.
enum SpecWarnings {
    static let blockFields: Set<String> = [
        "blockId", "blockComponentURI", "minInstances", "maxInstances", "blockInitData", "initSettings", "parameters",
        "policyRulesSpec", "mode",
    ]
    static let componentFields: Set<String> = Set(ComponentSpec.objectSections).union([
        "componentId", "componentType", "componentURI", "containerRegistryInfo", "tags", "runtime", "createdAt", "lastModifiedAt",
    ])
    /// The policies a block runs.
    static let blockPolicies: [String] = [PolicyKind.clusterAllocator, .resourceAllocator, .loadBalancer, .autoscaler, .stabilityChecker].map(\.rawValue)

    static func block(_ values: [String: JSONValue], at path: FieldPath) -> [FieldError] {
        var warnings = unknownFields(values, known: blockFields, at: path)
        for (index, rule) in (values["policyRulesSpec"]?.arrayValue ?? []).enumerated() {
            if let name = rule["values"]?["name"]?.stringValue {
                warnings += unknownPolicy(name, at: path / "policyRulesSpec" / index / "values" / "name")
            }
        }
        return warnings
    }

    static func component(_ values: [String: JSONValue], at path: FieldPath) -> [FieldError] {
        var warnings = unknownFields(values, known: componentFields, at: path)
        for name in (values["policies"]?.objectValue ?? [:]).keys.sorted() {
            warnings += unknownPolicy(name, at: path / "policies" / name)
        }
        return warnings
    }

    private static func unknownFields(_ values: [String: JSONValue], known: Set<String>, at path: FieldPath) -> [FieldError] {
        values.keys.sorted().filter { !known.contains($0) }.map {
            FieldError(path: path / $0, message: "unknown field, ignored; known: \(known.sorted().joined(separator: ", "))")
        }
    }

    private static func unknownPolicy(_ name: String, at path: FieldPath) -> [FieldError] {
        guard !blockPolicies.contains(name) else { return [] }
        return [FieldError(path: path, message: "unknown policy name \"\(name)\", ignored; a block runs \(blockPolicies.joined(separator: ", "))")]
    }

    static func json(_ warnings: [FieldError]) -> JSONValue {
        .array(warnings.map { ["path": .string($0.path), "message": .string($0.message)] })
    }
}
