import AIOSModel

/// The instance's memory (as asked, or the default reservation) must fit in what the node has free: the
/// lesser of its reported free memory and its declared memory less reservations. A default reservation is
/// checked only where the metrics report free memory; an explicit request everywhere.
public struct MemoryFilter: NodeFilter {
    public let name = "memory"

    public init() {}

    public func filter(_ node: NodeCandidate, request: ResourceRequest, state: PlacementState) -> FilterVerdict {
        // Without metrics (a plugin list that does not check them first) free memory is unknown.
        let reportedFree = node.node.live?.memoryFree ?? 0
        let declared = node.node.memory
        let free = min(reportedFree, declared > 0 ? declared - node.reservedMemory : reportedFree - node.reservedMemory)
        // Metrics without memory figures (free 0) leave the node's free memory unknown.
        let known = reportedFree > 0
        guard request.memory > 0, request.memoryGiven || known, free + Capacity.slack < request.memory else { return .pass }
        let asked = request.memoryGiven ? "" : " (the default reservation of an instance that asks for no memory)"
        return .reject("needs \(request.memory.formatted) MB memory\(asked), \(max(0, free).formatted) MB free after reservations")
    }
}
