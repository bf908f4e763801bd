import AIOSModel

/// The weights of one split: a file the splitter wrote into its output directory (`file`), or, once the
/// platform has stored it, its place in the content-addressed store (`uri` = `/api/artifacts/{sha256}`).
public struct PlanArtifact: Sendable, Equatable {
    public var file: String?
    public var uri: String?
    /// Lowercase hex SHA-256 of the bytes.
    public var sha256: String
    public var size: Int

    public init(file: String? = nil, uri: String? = nil, sha256: String, size: Int) {
        self.file = file
        self.uri = uri
        self.sha256 = sha256
        self.size = size
    }

    /// The path the platform serves an artifact at.
    public static func uri(sha256: String) -> String { "/api/artifacts/\(sha256)" }

    /// Whether `text` is a SHA-256 digest as plans write it: 64 lowercase hex digits.
    public static func isDigest(_ text: String) -> Bool {
        text.utf8.count == 64 && text.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
    }

    /// Whether `name` is a plain file name in the splitter's output directory.
    public static func isPlainFileName(_ name: String) -> Bool {
        !name.isEmpty && name != "." && name != ".." && !name.contains("/") && !name.contains("\0") && name != "plan.json"
    }

    init?(_ value: JSONValue, at path: FieldPath, reader: inout FieldReader) {
        guard let object = value.objectValue else {
            reader.fail(path, "expected {\"file\" or \"uri\", \"sha256\", \"size\"}, got \(value.typeName)")
            return nil
        }
        let file = reader.string(object, "file", at: path)
        let uri = reader.string(object, "uri", at: path)
        let sha256 = reader.string(object, "sha256", at: path, required: true)
        let size = reader.int(object, "size", at: path, required: true, minimum: 1)
        if file == nil && uri == nil { reader.fail(path, "needs \"file\" (as the splitter writes it) or \"uri\" (as the platform stores it)") }
        if let file, !Self.isPlainFileName(file) {
            reader.fail(path / "file", "must be a plain file name in the output directory (no '/', not plan.json), got \"\(file)\"")
        }
        if let sha256, !Self.isDigest(sha256) { reader.fail(path / "sha256", "must be 64 lowercase hex digits, got \"\(sha256)\"") }
        guard let sha256, let size else { return nil }
        self.init(file: file, uri: uri, sha256: sha256, size: size)
    }

    public var json: JSONValue {
        var object: [String: JSONValue] = ["sha256": .string(sha256), "size": .number(Double(size))]
        if let file { object["file"] = .string(file) }
        if let uri { object["uri"] = .string(uri) }
        return .object(object)
    }
}
