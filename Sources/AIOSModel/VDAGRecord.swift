import Foundation

/// A stored vDAG: its submitted spec values, the block each node was assigned to, and when.
public struct VDAGRecord: Sendable, Equatable {
    /// `name:version-releaseTag`.
    public var uri: String
    /// The submitted `body.spec.values`.
    public var document: [String: JSONValue]
    /// Node label → block id.
    public var assignment: [String: String]
    public var createdAt: Date

    public init(uri: String, document: [String: JSONValue], assignment: [String: String], createdAt: Date = Date()) {
        self.uri = uri
        self.document = document
        self.assignment = assignment
        self.createdAt = createdAt
    }
}

/// A stored vDAG controller (AIOS `create_controller`): it serves one vDAG's inference on a port of its own.
public struct VDAGControllerRecord: Sendable, Equatable {
    public var id: String
    public var vdagURI: String
    public var clusterId: String
    /// The AIOS `config`, as given (`port`, `custom_data`, ...).
    public var config: [String: JSONValue]
    public var createdAt: Date

    public init(id: String, vdagURI: String, clusterId: String, config: [String: JSONValue], createdAt: Date = Date()) {
        self.id = id
        self.vdagURI = vdagURI
        self.clusterId = clusterId
        self.config = config
        self.createdAt = createdAt
    }
}
