/// The request's `gpus`, all on one node: the node must report at least that many GPUs, and that many must
/// qualify (pass every GPU filter). Its reason lists why each other GPU did not.
public struct GPUCountFilter: NodeFilter {
    public let name = "gpu-count"

    public init() {}

    public func filter(_ node: NodeCandidate, request: ResourceRequest, state: PlacementState) -> FilterVerdict {
        guard request.gpus > 0 else { return .pass }
        let reporting = node.gpus.count
        if reporting < request.gpus {
            let declared = node.node.declaredGPUs > reporting ? " (\(node.node.declaredGPUs) declared)" : ""
            return .reject("has \(reporting) GPU(s) reporting metrics\(declared), needs \(request.gpus) on one node")
        }
        if node.qualifyingGPUs.count < request.gpus {
            return .reject("\(node.qualifyingGPUs.count) of \(reporting) GPUs qualify, needs \(request.gpus): " + node.gpuRejections.joined(separator: "; "))
        }
        return .pass
    }
}
