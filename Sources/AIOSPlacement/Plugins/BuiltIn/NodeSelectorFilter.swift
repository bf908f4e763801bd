/// `node_selector`: the node's labels must carry every selected label with exactly the selected value
/// (case-sensitive, as Kubernetes' nodeSelector). Rejecting a node skips the other filters.
public struct NodeSelectorFilter: NodeFilter {
    public let name = "node-selector"
    public let skipsRestWhenRejecting = true

    public init() {}

    public func filter(_ node: NodeCandidate, request: ResourceRequest, state: PlacementState) -> FilterVerdict {
        guard !request.nodeSelector.isEmpty else { return .pass }
        let mismatches = request.nodeSelector.sorted { $0.key < $1.key }.compactMap { key, wanted -> String? in
            switch node.node.labels[key] {
            case wanted?: nil
            case let actual?: "label \(key) is \"\(actual)\", node_selector needs \"\(wanted)\""
            case nil: "no label \(key), node_selector needs \(key)=\"\(wanted)\""
            }
        }
        return mismatches.isEmpty ? .pass : .reject(mismatches)
    }
}
