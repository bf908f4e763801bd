import AIOSModel

/// A vDAG's validated graph: which nodes take the request, which return results, and every edge.
///
/// Built from `graph{connections, input|inputs, output|outputs}` by ``VDAGSpec``; by then it is a DAG in
/// which every node is reachable from an input node, so the runtime can walk ``order`` without checks.
public struct VDAGGraph: Sendable, Equatable {
    /// Input node labels: `graph.input` (or `inputs`) when given, else the nodes without parents, in spec order.
    public var inputs: [String]
    /// Output node labels: `graph.output` (or `outputs`) when given, else the nodes without children, in spec order.
    public var outputs: [String]
    /// Label → parent labels in connection order (`connections[i].inputs` order); every node has an entry.
    public var parents: [String: [String]]
    /// Label → child labels in the spec order of connections; every node has an entry.
    public var children: [String: [String]]
    /// A topological order: parents before children, ties broken by spec order.
    public var order: [String]

    public init(inputs: [String], outputs: [String], parents: [String: [String]], children: [String: [String]], order: [String]) {
        self.inputs = inputs
        self.outputs = outputs
        self.parents = parents
        self.children = children
        self.order = order
    }
}
