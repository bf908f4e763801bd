/// A validated block spec (`POST /api/createBlock`, AIOS `body.spec.values`).
///
/// Fields: `blockId` (optional; generated when absent), `blockComponentURI`, `minInstances`, `maxInstances`,
/// `blockInitData`, `initSettings`, `parameters`, `policyRulesSpec[{values{name, policyRuleURI, parameters,
/// settings}}]`, and AIOS's `mode`, accepted and stored.
public struct BlockSpec: Sendable, Equatable {
    public static let modes: Set<String> = ["allocate", "dry_run", "dry-run", "select_clusters"]
    /// The most instances one block may ask for.
    public static let instanceLimit = 1000

    public var blockId: String
    public var componentURI: ComponentURI
    public var minInstances: Int
    public var maxInstances: Int
    /// The submitted values with `blockId` filled in.
    public var values: [String: JSONValue]
    /// Where the values sat in the submitted document.
    public var valuesPath: FieldPath

    /// Checks what can be checked without the component. `generateID` supplies an id when none is given.
    public init(envelope: SpecEnvelope, generateID: () -> String = BlockID.generate) throws(APIError) {
        let path = envelope.valuesPath
        var values = envelope.values
        var reader = FieldReader()

        var blockId = reader.string(values, "blockId", at: path)
        if let id = blockId, let problem = BlockID.problem(id) {
            reader.fail(path / "blockId", problem)
            blockId = nil
        }

        var componentURI: ComponentURI?
        if let text = reader.string(values, "blockComponentURI", at: path, required: true) {
            componentURI = ComponentURI(text)
            if componentURI == nil {
                reader.fail(path / "blockComponentURI", "not a component URI; expected type.name:version-releaseTag, e.g. model.vllm-chat:1.0.0-stable")
            }
        }

        let minInstances = reader.int(values, "minInstances", at: path, required: true, minimum: 0)
        let maxInstances = reader.int(values, "maxInstances", at: path, required: true, minimum: 1)
        if let maxInstances, maxInstances > Self.instanceLimit {
            reader.fail(path / "maxInstances", "must be at most \(Self.instanceLimit), got \(maxInstances)")
        }
        if let minInstances, minInstances > Self.instanceLimit {
            reader.fail(path / "minInstances", "must be at most \(Self.instanceLimit), got \(minInstances)")
        }
        if let minInstances, let maxInstances, minInstances > maxInstances {
            reader.fail(path / "maxInstances", "must be at least minInstances (\(minInstances)), got \(maxInstances)")
        }

        for section in ["blockInitData", "initSettings", "parameters"] {
            _ = reader.object(values, section, at: path)
        }
        if let mode = reader.string(values, "mode", at: path), !Self.modes.contains(mode) {
            reader.fail(path / "mode", "unknown mode \"\(mode)\"; expected one of \(Self.modes.sorted().joined(separator: ", "))")
        }
        if let rules = reader.array(values, "policyRulesSpec", at: path) {
            for (index, rule) in rules.enumerated() {
                Self.checkPolicyRule(rule, at: path / "policyRulesSpec" / index, reader: &reader)
            }
        }

        try reader.check()
        guard let componentURI, let minInstances, let maxInstances else { throw APIError.validation(reader.errors) }
        let id = blockId ?? generateID()
        values["blockId"] = .string(id)
        self.blockId = id
        self.componentURI = componentURI
        self.minInstances = minInstances
        self.maxInstances = maxInstances
        self.values = values
        self.valuesPath = path
    }

    /// Whether the spec asks for a dry run (`mode: "dry-run"` or AIOS's `"dry_run"`): validate and place, store nothing.
    public var isDryRun: Bool {
        let mode = values["mode"]?.stringValue
        return mode == "dry-run" || mode == "dry_run"
    }

    /// Where the policy of kind `name` was written: the last `policyRulesSpec` entry with that name, or the
    /// component's `policies` when the block inherits it.
    public static func policyLocation(_ name: String, values: [String: JSONValue], valuesPath: FieldPath) -> FieldPath {
        let rules = values["policyRulesSpec"]?.arrayValue ?? []
        if let index = rules.lastIndex(where: { $0["values"]?["name"]?.stringValue == name }) {
            return valuesPath / "policyRulesSpec" / index / "values"
        }
        return FieldPath([.key("(component)"), .key("policies"), .key(name)])
    }

    private static func checkPolicyRule(_ rule: JSONValue, at path: FieldPath, reader: inout FieldReader) {
        guard let object = rule.objectValue else {
            reader.fail(path, "expected an object {\"values\": {name, policyRuleURI, parameters, settings}}, got \(rule.typeName)")
            return
        }
        guard let values = reader.object(object, "values", at: path, required: true) else { return }
        let valuesPath = path / "values"
        _ = reader.string(values, "name", at: valuesPath, required: true)
        if let uri = reader.string(values, "policyRuleURI", at: valuesPath, required: true), uri.contains(where: \.isWhitespace) {
            reader.fail(valuesPath / "policyRuleURI", "must not contain whitespace")
        }
        _ = reader.object(values, "parameters", at: valuesPath)
        _ = reader.object(values, "settings", at: valuesPath)
    }

    /// The block as it will run: component defaults overlaid with the block's values, policies merged by
    /// name, and `parameters`/`initSettings` checked against the component's protocols.
    public func resolve(with component: ComponentSpec) throws(APIError) -> ResolvedBlock {
        var errors: [FieldError] = []
        func merged(_ blockKey: String, over componentKey: String) -> [String: JSONValue] {
            component.section(componentKey).merging(values[blockKey]?.objectValue ?? [:]) { _, block in block }
        }
        let blockInitData = merged("blockInitData", over: "componentInitData")
        let initSettings = merged("initSettings", over: "componentInitSettings")
        let parameters = merged("parameters", over: "componentParameters")

        errors += ProtocolTemplate(fields: component.section("componentInitParametersProtocol"))
            .validate(parameters, at: valuesPath / "parameters")
        errors += PlatformInitSettings.validate(initSettings, component: ProtocolTemplate(fields: component.section("componentInitSettingsProtocol")),
                                                at: valuesPath / "initSettings")
        if !errors.isEmpty { throw APIError.validation(errors) }

        var policies = component.section("policies")
        for rule in values["policyRulesSpec"]?.arrayValue ?? [] {
            guard var rule = rule["values"]?.objectValue, let name = rule["name"]?.stringValue else { continue }
            rule.removeValue(forKey: "name")
            policies[name] = .object(rule)
        }
        return ResolvedBlock(
            blockInitData: blockInitData, initSettings: initSettings, parameters: parameters, policies: policies,
            inputProtocol: component.section("componentInputProtocol"),
            outputProtocol: component.section("componentOutputProtocol"))
    }
}

/// A block's effective configuration after merging the component's defaults (defaults < component < block).
public struct ResolvedBlock: Sendable, Equatable, Codable {
    public var blockInitData: [String: JSONValue]
    public var initSettings: [String: JSONValue]
    public var parameters: [String: JSONValue]
    public var policies: [String: JSONValue]
    public var inputProtocol: [String: JSONValue]
    public var outputProtocol: [String: JSONValue]

    public init(blockInitData: [String: JSONValue], initSettings: [String: JSONValue], parameters: [String: JSONValue],
                policies: [String: JSONValue], inputProtocol: [String: JSONValue], outputProtocol: [String: JSONValue]) {
        self.blockInitData = blockInitData
        self.initSettings = initSettings
        self.parameters = parameters
        self.policies = policies
        self.inputProtocol = inputProtocol
        self.outputProtocol = outputProtocol
    }
}
