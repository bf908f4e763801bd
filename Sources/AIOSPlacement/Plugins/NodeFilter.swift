/// A check a node must pass to host an instance (kube-scheduler's Filter): it sees the node with what
/// reservations hold on it, the resource request, and the decision's state, and passes it or says why not.
///
/// The placer runs every filter of its ``PlacementPlugins`` in order on every node, for every instance it
/// places; a node that any filter rejects is not scored. Filters are pure and cheap: they run
/// nodes × instances times per decision.
public protocol NodeFilter: Sendable {
    /// Short, stable, kebab-case: how the placement report names the filter.
    var name: String { get }
    /// When this filter rejects a node, the filters after it are not run on it (reported as skipped): for
    /// checks that make the others moot (no fresh metrics, labels that do not match). Defaults to `false`:
    /// a rejected node then collects every failing filter's reasons.
    var skipsRestWhenRejecting: Bool { get }

    func filter(_ node: NodeCandidate, request: ResourceRequest, state: PlacementState) -> FilterVerdict
}

extension NodeFilter {
    public var skipsRestWhenRejecting: Bool { false }
}
