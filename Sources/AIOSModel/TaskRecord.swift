import Foundation

/// The record of one API action (`task_id` in AIOS replies): what was asked, and how it ended.
public struct TaskRecord: Sendable, Equatable {
    public enum Status: String, Sendable, Codable {
        case pending, running, completed, failed
    }

    public var id: String
    public var action: String
    /// What the task is about: a block id, a component URI, a cluster id.
    public var subject: String
    public var status: Status
    public var result: JSONValue
    public var createdAt: Date
    public var updatedAt: Date

    public init(id: String = UUID().uuidString.lowercased(), action: String, subject: String, status: Status,
                result: JSONValue = .null, createdAt: Date = Date(), updatedAt: Date? = nil) {
        self.id = id
        self.action = action
        self.subject = subject
        self.status = status
        self.result = result
        self.createdAt = createdAt
        self.updatedAt = updatedAt ?? createdAt
    }
}

/// A registered policy: `policy.<kind>.<name>:<version>` and its document.
public struct PolicyRecord: Sendable, Equatable {
    public var uri: String
    public var kind: String
    public var document: JSONValue
    public var createdAt: Date

    public init(uri: String, kind: String, document: JSONValue, createdAt: Date = Date()) {
        self.uri = uri
        self.kind = kind
        self.document = document
        self.createdAt = createdAt
    }

    /// The kind of a `policy.<kind>.<name>:<version>` URI, or `nil` for another shape.
    public static func kind(ofURI uri: String) -> String? {
        let parts = uri.split(separator: ".", maxSplits: 2)
        guard parts.count == 3, parts[0] == "policy", !parts[1].isEmpty else { return nil }
        return String(parts[1])
    }
}

/// A stored component and when it was added.
public struct ComponentRecord: Sendable, Equatable {
    public var spec: ComponentSpec
    public var createdAt: Date

    public init(spec: ComponentSpec, createdAt: Date = Date()) {
        self.spec = spec
        self.createdAt = createdAt
    }
}
