import AIOSModel

/// What the graph checks need to know of a node: its label, declared names and protocols.
///
/// Kept apart from ``VDAGNode`` so a node whose assignment is bad still has its label known to the
/// graph, and one bad field does not turn every edge to that node into an "unknown label" error.
struct VDAGNodeOutline: Sendable {
    var label: String
    /// The node's index in `nodes`.
    var index: Int
    var inputNames: [String]
    var outputNames: [String]
    var inputProtocol: [String: JSONValue]?
    var outputProtocol: [String: JSONValue]?
}
