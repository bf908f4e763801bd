import AIOSModel

/// A vDAG's identity, written `name:version-releaseTag` (`pose-estimator:0.0.1-stable`), as AIOS builds it
/// from `vdagName` and `vdagVersion{version, release-tag}`.
///
/// Parsing follows ``ComponentURI``: the name ends at the `:` (names cannot hold one), and the release tag
/// follows the **last** `-` of the rest, so versions may hold `-` (`1.0.0-rc1-beta` is version `1.0.0-rc1`,
/// tag `beta`) and tags may not. That is why the tag's rule forbids `-`: every valid URI round-trips.
public struct VDAGURI: Sendable, Hashable, CustomStringConvertible, Codable {
    public var name: String
    public var version: String
    public var releaseTag: String

    public init(name: String, version: String, releaseTag: String) {
        self.name = name
        self.version = version
        self.releaseTag = releaseTag
    }

    /// Parses `name:version-releaseTag`; `nil` when the text is not one or a part breaks its rule (see ``problems``).
    public init?(_ text: String) {
        guard let colon = text.firstIndex(of: ":") else { return nil }
        let versionAndTag = text[text.index(after: colon)...]
        guard let dash = versionAndTag.lastIndex(of: "-") else { return nil }
        let candidate = VDAGURI(
            name: String(text[..<colon]),
            version: String(versionAndTag[..<dash]),
            releaseTag: String(versionAndTag[versionAndTag.index(after: dash)...]))
        guard candidate.problems.isEmpty else { return nil }
        self = candidate
    }

    public var description: String { "\(name):\(version)-\(releaseTag)" }

    /// What is wrong with each part (`name`, `version`, `releaseTag`), so callers can attach their own paths.
    ///
    /// The name is a ``ResourceName`` (it appears in URLs and controller names); version and tag use
    /// ``ComponentURI``'s character sets, so neither can hold `:` and the tag cannot hold `-`.
    public var problems: [(part: String, message: String)] {
        var problems: [(String, String)] = []
        if let problem = ResourceName.problem(name) { problems.append(("name", problem)) }
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
        check("version", version, allowed: alphanumerics.union("_-.+"), rule: "letters, digits, '_', '-', '.' and '+' only")
        check("releaseTag", releaseTag, allowed: alphanumerics.union("_."), rule: "letters, digits, '_' and '.' only (no '-': it separates version and tag)")
        return problems
    }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let uri = VDAGURI(text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not a vDAG URI: \(text)"))
        }
        self = uri
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
