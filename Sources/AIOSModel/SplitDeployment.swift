import Foundation

/// What deploying a split task's plan created: its blocks, vDAG and controller. Recorded as `deploying`
/// before anything is created, so a failure or a restart halfway undoes exactly that; `deployed` once done.
public struct SplitDeployment: Sendable, Equatable {
    public enum State: String, Sendable, Codable, CaseIterable {
        case deploying, deployed
    }

    public var state: State
    public var vdagURI: String
    public var controllerId: String
    public var clusterId: String
    public var blocks: [String]
    /// When the deploy finished.
    public var deployedAt: Date?

    public init(state: State, vdagURI: String, controllerId: String, clusterId: String, blocks: [String], deployedAt: Date? = nil) {
        self.state = state
        self.vdagURI = vdagURI
        self.controllerId = controllerId
        self.clusterId = clusterId
        self.blocks = blocks
        self.deployedAt = deployedAt
    }

    /// The stored and shown form: `{"state", "vdagURI", "controllerId", "clusterId", "blocks", "deployed"?}`.
    public var json: JSONValue {
        var object: [String: JSONValue] = [
            "state": .string(state.rawValue), "vdagURI": .string(vdagURI), "controllerId": .string(controllerId),
            "clusterId": .string(clusterId), "blocks": .array(blocks.map(JSONValue.string)),
        ]
        if let deployedAt { object["deployed"] = .string(Self.timeFormatter.string(from: deployedAt)) }
        return .object(object)
    }

    /// Reads the stored form; `nil` for `null` (not deployed) or a form this version cannot read.
    public init?(json: JSONValue) {
        guard let state = json["state"]?.stringValue.flatMap(State.init(rawValue:)),
              let controllerId = json["controllerId"]?.stringValue else { return nil }
        self.state = state
        self.controllerId = controllerId
        vdagURI = json["vdagURI"]?.stringValue ?? ""
        clusterId = json["clusterId"]?.stringValue ?? ClusterSpec.localId
        blocks = json["blocks"]?.arrayValue?.compactMap(\.stringValue) ?? []
        deployedAt = json["deployed"]?.stringValue.flatMap(Self.timeFormatter.date(from:))
    }

    private nonisolated(unsafe) static let timeFormatter: ISO8601DateFormatter = {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter
    }()
}
