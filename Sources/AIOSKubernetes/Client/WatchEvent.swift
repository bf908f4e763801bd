import AIOSModel

/// One event of a Kubernetes watch stream: `{"type": ADDED|MODIFIED|DELETED|BOOKMARK|ERROR, "object": {...}}`.
public struct WatchEvent: Sendable {
    public enum Kind: String, Sendable {
        case added = "ADDED", modified = "MODIFIED", deleted = "DELETED", bookmark = "BOOKMARK", error = "ERROR"
    }

    public var kind: Kind
    public var object: JSONValue

    public init(kind: Kind, object: JSONValue) {
        self.kind = kind
        self.object = object
    }

    /// Reads one line of the stream; `nil` for a line that is not an event.
    public init?(line: JSONValue) {
        guard let type = line["type"]?.stringValue, let kind = Kind(rawValue: type), let object = line["object"] else { return nil }
        self.init(kind: kind, object: object)
    }

    /// The object's `metadata.resourceVersion`.
    public var resourceVersion: String? { object["metadata"]?["resourceVersion"]?.stringValue }

    /// For an `ERROR` event: the `Status` it carries, as an error (410 when the watch's version expired).
    public var error: KubernetesError? {
        guard kind == .error else { return nil }
        return .status(code: object["code"]?.intValue ?? 500, reason: object["reason"]?.stringValue ?? "",
                       message: object["message"]?.stringValue ?? "watch error")
    }
}
