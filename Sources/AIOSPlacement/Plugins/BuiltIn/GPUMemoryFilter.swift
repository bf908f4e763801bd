import AIOSModel

/// `min_gpu_free_memory` (MB): a GPU qualifies when that much is free after reservations. Without it an
/// instance takes a GPU whole, so a GPU anything is reserved on does not qualify.
public struct GPUMemoryFilter: GPUFilter {
    public let name = "gpu-memory"

    public init() {}

    public func filter(_ gpu: GPUCandidate, on node: NodeCandidate, request: ResourceRequest, state: PlacementState) -> FilterVerdict {
        if let needed = request.minGPUFreeMemory {
            let available = gpu.available
            return available < needed ? .reject("\(available.formatted) MB free after reservations < \(needed.formatted) MB needed") : .pass
        }
        return gpu.reserved > 0 ? .reject("already reserved, and without min_gpu_free_memory an instance takes a GPU whole") : .pass
    }
}
