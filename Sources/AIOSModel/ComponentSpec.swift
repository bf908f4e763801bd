/// A validated component spec (`POST /api/addComponent`), as in AIOS's components registry:
/// `componentId{name,version,releaseTag}`, `componentType`, optional `containerRegistryInfo`, and the
/// free-form sections (metadata, init data, protocols, policies, management commands).
public struct ComponentSpec: Sendable, Equatable {
    /// Sections that must be objects when present.
    public static let objectSections = [
        "componentMetadata", "componentInitData", "componentInputProtocol", "componentOutputProtocol",
        "policies", "componentManagementCommandsTemplate", "componentInitSettings", "componentParameters",
        "componentInitSettingsProtocol", "componentInitParametersProtocol",
    ]

    /// AIOS spells the third-party mode both ways; `third_party` is stored.
    public static let componentModes: [String: String] = ["aios": "aios", "third_party": "third_party", "third-party": "third_party"]

    public var uri: ComponentURI
    /// The stored document: the submitted values, normalised, with the derived `componentURI`.
    public var document: [String: JSONValue]

    public init(uri: ComponentURI, document: [String: JSONValue]) {
        self.uri = uri
        self.document = document
    }

    public init(envelope: SpecEnvelope) throws(APIError) {
        let path = envelope.valuesPath
        var values = envelope.values
        var reader = FieldReader()

        let id = reader.object(values, "componentId", at: path, required: true)
        let idPath = path / "componentId"
        let name = id.flatMap { reader.string($0, "name", at: idPath, required: true) }
        let version = id.flatMap { reader.string($0, "version", at: idPath, required: true) }
        let releaseTag = id.flatMap { reader.string($0, "releaseTag", at: idPath, required: true) }
        let type = reader.string(values, "componentType", at: path, required: true)

        var uri: ComponentURI?
        if let name, let version, let releaseTag, let type {
            let candidate = ComponentURI(type: type, name: name, version: version, releaseTag: releaseTag)
            for problem in candidate.problems {
                reader.fail(problem.part == "type" ? path / "componentType" : idPath / problem.part, problem.message)
            }
            if candidate.problems.isEmpty { uri = candidate }
        }
        if let uri, let given = reader.string(values, "componentURI", at: path), given != uri.description {
            reader.fail(path / "componentURI", "does not match componentType and componentId (the server derives \"\(uri)\"); omit it")
        }

        for section in Self.objectSections {
            _ = reader.object(values, section, at: path)
        }
        _ = reader.stringArray(values, "tags", at: path)
        for section in ["componentInitParametersProtocol", "componentInitSettingsProtocol"] {
            if let template = values[section]?.objectValue {
                reader.absorb(ProtocolTemplate.check(template, at: path / section))
            }
        }
        if reader.isValid {
            // The component's own defaults must satisfy its own protocols.
            for (defaults, template) in [("componentParameters", "componentInitParametersProtocol"), ("componentInitSettings", "componentInitSettingsProtocol")] {
                if let defaultValues = values[defaults]?.objectValue, let fields = values[template]?.objectValue {
                    let protocolTemplate = ProtocolTemplate(fields: fields)
                    let errors = defaults == "componentInitSettings"
                        ? PlatformInitSettings.validate(defaultValues, component: protocolTemplate, at: path / defaults)
                        : protocolTemplate.validate(defaultValues, at: path / defaults)
                    reader.absorb(errors.filter { !$0.message.hasPrefix("required") })
                }
            }
        }

        _ = ProcessRuntimeSpec.read(values, at: path, reader: &reader)
        if let registryInfo = reader.object(values, "containerRegistryInfo", at: path) {
            values["containerRegistryInfo"] = .object(Self.normalise(registryInfo: registryInfo, at: path / "containerRegistryInfo", reader: &reader))
        }

        try reader.check()
        guard let uri else { throw APIError.validation(reader.errors) }
        values["componentURI"] = .string(uri.description)
        self.init(uri: uri, document: values)
    }

    private static func normalise(registryInfo: [String: JSONValue], at path: FieldPath, reader: inout FieldReader) -> [String: JSONValue] {
        var info = registryInfo
        _ = reader.string(info, "containerImage", at: path)
        _ = reader.string(info, "containerRegistryId", at: path)
        _ = reader.object(info, "containerImageMetadata", at: path)
        if let mode = reader.string(info, "componentMode", at: path) {
            if let normalised = componentModes[mode] {
                info["componentMode"] = .string(normalised)
            } else {
                reader.fail(path / "componentMode", "unknown mode \"\(mode)\"; expected aios, third_party or third-party")
            }
        }
        let mode = info["componentMode"]?.stringValue ?? "aios"
        if let initContainer = reader.object(info, "initContainer", at: path) {
            var normalised = initContainer
            if let spec = InitContainerSpec.read(initContainer, at: path / "initContainer", reader: &reader), let image = spec.image {
                normalised["image"] = .string(image)
                normalised["containerImage"] = .string(image)
            }
            info["initContainer"] = .object(normalised)
            if mode == "aios" {
                reader.fail(path / "componentMode", "is aios, but an initContainer runs only for third_party components; set componentMode to third_party")
            }
        } else if mode == "third_party" {
            reader.fail(path / "initContainer", "is required for componentMode third_party: the program that deploys the third-party system (\"command\": [...] or \"image\"); a block that links to a system deployed elsewhere is componentMode aios")
        }
        return info
    }

    // MARK: Reading the stored document

    public func section(_ name: String) -> [String: JSONValue] {
        document[name]?.objectValue ?? [:]
    }
}
