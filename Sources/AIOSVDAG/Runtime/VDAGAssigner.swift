import AIOSModel
import AIOSQuery

/// A block a vDAG node may be assigned to: its document for filters, and how loaded it is.
public struct VDAGBlockCandidate: Sendable {
    public var blockId: String
    /// `{"block": {...}, "component": {...}, "cluster": {...}}`.
    public var document: JSONValue
    /// Requests in flight and queued on the block now; the least loaded match wins.
    public var load: Double
    /// Whether the block has instances serving (Ready or Degraded): matches that serve are preferred.
    public var serving: Bool

    public init(blockId: String, document: JSONValue, load: Double, serving: Bool = true) {
        self.blockId = blockId
        self.document = document
        self.load = load
        self.serving = serving
    }
}

/// Picks the block of every vDAG node: `manualBlockId` must name an existing block; an
/// `assignmentPolicyRule`'s `parameters.filter` (the filter language, over block documents: `block.blockId`,
/// `block.componentURI`, `component.componentMetadata...`, `cluster.id`) picks the least loaded match.
public enum VDAGAssigner {
    public static let schema = VariableSchema(
        documentName: "block",
        fields: ["block.blockId": .string, "block.componentURI": .string, "block.phase": .string, "cluster.id": .string],
        openPrefixes: ["block", "component", "cluster"])

    /// The blocks a filter-assigned node's filter matches (none for a manual node or a bad filter).
    public static func matches(_ node: VDAGNode, blocks: [VDAGBlockCandidate]) -> [VDAGBlockCandidate] {
        guard case .filter(_, let filter, _) = node.assignment else { return [] }
        let tree = filter["blockQuery"] ?? filter
        guard let query = try? FilterQuery.parse(tree, at: .root, schema: schema, samples: blocks.map(\.document)) else { return [] }
        return blocks.filter { query.matches($0.document) }
    }

    /// Node label → block id, or every node's problem at once.
    public static func assign(_ spec: VDAGSpec, blocks: [VDAGBlockCandidate]) throws(APIError) -> [String: String] {
        var assignment: [String: String] = [:]
        var errors: [FieldError] = []
        let known = blocks.map(\.blockId).sorted()
        for node in spec.nodes {
            switch node.assignment {
            case .manual(let blockId):
                if blocks.contains(where: { $0.blockId == blockId }) {
                    assignment[node.label] = blockId
                } else {
                    errors.append(FieldError(path: node.path / "manualBlockId",
                                             message: "node \(node.label): no block \"\(blockId)\"" + (known.isEmpty ? "; there are no blocks" : "; blocks: \(known.joined(separator: ", "))")))
                }
            case .filter(_, let filter, _):
                let path = node.path / "assignmentPolicyRule" / "parameters" / "filter"
                let tree = filter["blockQuery"] ?? filter
                let query: FilterQuery
                do {
                    query = try FilterQuery.parse(tree, at: filter["blockQuery"] == nil ? path : path / "blockQuery", schema: schema,
                                                  samples: blocks.map(\.document))
                } catch {
                    errors += error.fields
                    continue
                }
                let matches = blocks.filter { query.matches($0.document) }
                guard let chosen = matches.min(by: { ($0.serving ? 0 : 1, $0.load, $0.blockId) < ($1.serving ? 0 : 1, $1.load, $1.blockId) }) else {
                    errors.append(FieldError(path: path, message: "node \(node.label): no block matches the filter \(tree.jsonString())"
                                             + (known.isEmpty ? " (there are no blocks)" : " (blocks: \(known.joined(separator: ", ")))")))
                    continue
                }
                assignment[node.label] = chosen.blockId
            }
        }
        if !errors.isEmpty { throw APIError.validation(errors) }
        return assignment
    }
}
