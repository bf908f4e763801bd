/// A component's identity, written `type.name:version-releaseTag` (`model.vllm-chat:1.0.0-stable`).
///
/// The server derives it from `componentType` and `componentId`; it is never taken from the client.
public struct ComponentURI: Sendable, Hashable, CustomStringConvertible, Codable {
    public var type: String
    public var name: String
    public var version: String
    public var releaseTag: String

    public init(type: String, name: String, version: String, releaseTag: String) {
        self.type = type
        self.name = name
        self.version = version
        self.releaseTag = releaseTag
    }

    /// Parses `type.name:version-releaseTag`. The type ends at the first `.`, the name at the `:`,
    /// and the release tag follows the last `-` (versions may hold `-`, tags may not).
    public init?(_ text: String) {
        guard let dot = text.firstIndex(of: "."), let colon = text.lastIndex(of: ":"), dot < colon else { return nil }
        let versionAndTag = text[text.index(after: colon)...]
        guard let dash = versionAndTag.lastIndex(of: "-") else { return nil }
        let candidate = ComponentURI(
            type: String(text[..<dot]),
            name: String(text[text.index(after: dot)..<colon]),
            version: String(versionAndTag[..<dash]),
            releaseTag: String(versionAndTag[versionAndTag.index(after: dash)...]))
        guard candidate.problems.isEmpty else { return nil }
        self = candidate
    }

    public var description: String { "\(type).\(name):\(version)-\(releaseTag)" }

    /// What is wrong with each part, keyed by part name, so callers can attach their own field paths.
    public var problems: [(part: String, message: String)] {
        var problems: [(String, String)] = []
        func check(_ part: String, _ value: String, allowed: Set<Character>, rule: String) {
            if value.isEmpty {
                problems.append((part, "must not be empty"))
            } else if value.count > 128 {
                problems.append((part, "must be at most 128 characters"))
            } else if let bad = value.first(where: { !allowed.contains($0) }) {
                problems.append((part, "\(rule); \"\(bad)\" is not allowed"))
            }
        }
        let alphanumerics = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
        check("type", type, allowed: alphanumerics.union("_-"), rule: "letters, digits, '_' and '-' only")
        check("name", name, allowed: alphanumerics.union("_-."), rule: "letters, digits, '_', '-' and '.' only")
        check("version", version, allowed: alphanumerics.union("_-.+"), rule: "letters, digits, '_', '-', '.' and '+' only")
        check("releaseTag", releaseTag, allowed: alphanumerics.union("_."), rule: "letters, digits, '_' and '.' only (no '-': it separates version and tag)")
        return problems
    }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let uri = ComponentURI(text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not a component URI: \(text)"))
        }
        self = uri
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
