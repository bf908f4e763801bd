import AIOSModel
import Foundation

/// A registered policy's description, as AIOS's `PolicyRule` writes it: `name`, `version`, `release_tag`
/// (the URI is `name:version-release_tag`, or `name:version` without a tag), the kind (`type`), stored
/// `policy_settings`/`policy_parameters` defaults with their schemas, `description`, `tags`, `metadata`. The
/// code is not part of it: the registry keeps the archive by digest (`code.digest`).
public struct PolicyDefinition: Sendable, Equatable {
    public var uri: String
    public var kind: PolicyKind
    public var name: String
    public var version: String
    public var releaseTag: String?
    public var settings: [String: JSONValue]
    public var parameters: [String: JSONValue]
    /// Everything else of the submitted document that the platform keeps and shows as is (schemas,
    /// description, tags, metadata, functionality_data, resource_estimates).
    public var extras: [String: JSONValue]

    /// Fields the platform reads; the others listed in `keptFields` are stored as given.
    static let readFields: Set<String> = ["name", "version", "release_tag", "type", "kind", "policy_settings", "policy_parameters", "code", "policy_rule_uri"]
    static let keptFields: Set<String> = [
        "description", "tags", "metadata", "code_type", "policy_input_schema", "policy_output_schema",
        "policy_settings_schema", "policy_parameters_schema", "functionality_data", "resource_estimates",
    ]
    /// A name or version: letters, digits and `._-`, at most 128 characters (URIs are path segments).
    static let maxNameLength = 128

    /// Reads a submitted document (the values of an AIOS envelope or the bare object). Errors name the field.
    public init(values: [String: JSONValue], at path: FieldPath = .root) throws(APIError) {
        var reader = FieldReader()
        reader.rejectUnknownFields(values, known: Self.readFields.union(Self.keptFields), at: path)
        let name = reader.string(values, "name", at: path, required: true) ?? ""
        let version = reader.string(values, "version", at: path, required: true) ?? ""
        let tag = reader.string(values, "release_tag", at: path)
        for (key, value) in [("name", name), ("version", version), ("release_tag", tag ?? "")] where !value.isEmpty {
            if value.count > Self.maxNameLength || !value.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) }) {
                reader.fail(path / key, "use letters, digits, '.', '_' and '-' only, at most \(Self.maxNameLength) characters")
            }
        }
        let kindText = reader.string(values, "type", at: path) ?? reader.string(values, "kind", at: path)
        var kind: PolicyKind?
        let kinds = PolicyKind.allCases.map(\.rawValue).joined(separator: ", ")
        if let kindText {
            kind = PolicyKind(rawValue: kindText)
            if kind == nil { reader.fail(path / (values["type"] != nil ? "type" : "kind"), "unknown policy kind \"\(kindText)\"; expected one of \(kinds)") }
        }
        if let named = PolicyRecord.kind(ofURI: name) {
            if let kind, kind.rawValue != named {
                reader.fail(path / "type", "is \(kind.rawValue) but the name says \(named)")
            } else if kind == nil {
                kind = PolicyKind(rawValue: named)
                if kind == nil { reader.fail(path / "name", "names an unknown policy kind \"\(named)\"; expected one of \(kinds)") }
            }
        } else if kindText == nil {
            reader.fail(path / "type", "is required (one of \(kinds)), unless the name is policy.<kind>.<name>")
        }
        let settings = reader.object(values, "policy_settings", at: path) ?? [:]
        let parameters = reader.object(values, "policy_parameters", at: path) ?? [:]
        let uri = tag.map { $0.isEmpty ? "\(name):\(version)" : "\(name):\(version)-\($0)" } ?? "\(name):\(version)"
        if let given = values["policy_rule_uri"]?.stringValue, given != uri {
            reader.fail(path / "policy_rule_uri", "is computed as name:version-release_tag (\(uri)); leave it out or make it match")
        }
        try reader.check()
        var extras: [String: JSONValue] = [:]
        for key in Self.keptFields { if let value = values[key] { extras[key] = value } }
        self.init(uri: uri, kind: kind!, name: name, version: version, releaseTag: tag, settings: settings, parameters: parameters, extras: extras)
    }

    public init(uri: String, kind: PolicyKind, name: String, version: String, releaseTag: String?,
                settings: [String: JSONValue], parameters: [String: JSONValue], extras: [String: JSONValue]) {
        self.uri = uri
        self.kind = kind
        self.name = name
        self.version = version
        self.releaseTag = releaseTag
        self.settings = settings
        self.parameters = parameters
        self.extras = extras
    }

    /// The stored document: the definition with its archive's digest and facts (`code`).
    public func document(archive: PolicyArchive) -> JSONValue {
        var document = extras
        document["policy_rule_uri"] = .string(uri)
        document["name"] = .string(name)
        document["version"] = .string(version)
        if let releaseTag { document["release_tag"] = .string(releaseTag) }
        document["type"] = .string(kind.rawValue)
        document["policy_settings"] = .object(settings)
        document["policy_parameters"] = .object(parameters)
        document["code"] = archive.json
        return .object(document)
    }

    /// Reads a stored document back (written by `document(archive:)`).
    public init?(stored document: JSONValue) {
        guard let values = document.objectValue, let uri = values["policy_rule_uri"]?.stringValue,
              let kind = values["type"]?.stringValue.flatMap(PolicyKind.init(rawValue:)) else { return nil }
        var extras: [String: JSONValue] = [:]
        for key in Self.keptFields { if let value = values[key] { extras[key] = value } }
        self.init(uri: uri, kind: kind, name: values["name"]?.stringValue ?? uri, version: values["version"]?.stringValue ?? "",
                  releaseTag: values["release_tag"]?.stringValue, settings: values["policy_settings"]?.objectValue ?? [:],
                  parameters: values["policy_parameters"]?.objectValue ?? [:], extras: extras)
    }
}

/// A checked policy archive, stored by the SHA-256 of its bytes.
public struct PolicyArchive: Sendable, Equatable {
    public var digest: String
    public var format: String
    public var compressedBytes: Int
    public var uncompressedBytes: Int
    public var files: Int
    public var hasRequirements: Bool
    public var warnings: [String]

    public init(digest: String, format: String, compressedBytes: Int, uncompressedBytes: Int, files: Int, hasRequirements: Bool, warnings: [String]) {
        self.digest = digest
        self.format = format
        self.compressedBytes = compressedBytes
        self.uncompressedBytes = uncompressedBytes
        self.files = files
        self.hasRequirements = hasRequirements
        self.warnings = warnings
    }

    public var json: JSONValue {
        ["digest": .string("sha256:" + digest), "format": .string(format), "compressedBytes": .number(Double(compressedBytes)),
         "uncompressedBytes": .number(Double(uncompressedBytes)), "files": .number(Double(files)),
         "hasRequirements": .bool(hasRequirements), "warnings": .array(warnings.map(JSONValue.string))]
    }

    public init?(json: JSONValue) {
        guard let digest = json["digest"]?.stringValue, digest.hasPrefix("sha256:") else { return nil }
        self.init(digest: String(digest.dropFirst(7)), format: json["format"]?.stringValue ?? "",
                  compressedBytes: json["compressedBytes"]?.intValue ?? 0, uncompressedBytes: json["uncompressedBytes"]?.intValue ?? 0,
                  files: json["files"]?.intValue ?? 0, hasRequirements: json["hasRequirements"]?.boolValue ?? false,
                  warnings: json["warnings"]?.arrayValue?.compactMap(\.stringValue) ?? [])
    }
}
