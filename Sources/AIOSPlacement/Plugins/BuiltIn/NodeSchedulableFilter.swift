import AIOSModel

/// A node its cluster says cannot take work (a Kubernetes node that is NotReady, cordoned, or tainted against the
/// platform's pods) is not placed on. Rejecting it skips the other filters.
public struct NodeSchedulableFilter: NodeFilter {
    public let name = "node-schedulable"
    public let skipsRestWhenRejecting = true

    public init() {}

    public func filter(_ node: NodeCandidate, request: ResourceRequest, state: PlacementState) -> FilterVerdict {
        node.node.schedulingProblem.map { .reject($0) } ?? .pass
    }
}
