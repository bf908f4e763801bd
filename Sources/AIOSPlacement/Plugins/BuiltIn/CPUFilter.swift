import AIOSModel

/// The instance's CPUs (as asked, or the default reservation) must fit in the node's declared CPUs less
/// reservations. A default reservation is checked only where the node declares its CPUs; an explicit
/// request everywhere.
public struct CPUFilter: NodeFilter {
    public let name = "cpu"

    public init() {}

    public func filter(_ node: NodeCandidate, request: ResourceRequest, state: PlacementState) -> FilterVerdict {
        let free = node.freeCPUs
        guard request.cpus > 0, request.cpusGiven || node.node.vcpus > 0, free + Capacity.slack < request.cpus else { return .pass }
        let asked = request.cpusGiven ? "" : " (the default reservation of an instance that asks for no CPUs)"
        return .reject("needs \(request.cpus.formatted) CPUs\(asked), \(max(0, free).formatted) free (\(node.node.vcpus.formatted) total, \(node.reservedCPUs.formatted) reserved)")
    }
}

/// Shared by the capacity filters.
enum Capacity {
    /// Sums of many 0.1 CPU reservations are not exact in binary: capacities are compared with this slack.
    static let slack = 1e-9
}
