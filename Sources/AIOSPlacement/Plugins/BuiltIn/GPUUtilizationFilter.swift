import AIOSModel

/// `max_gpu_utilization` (a 0–1 fraction; metrics are in percent): a GPU at or above it does not qualify.
public struct GPUUtilizationFilter: GPUFilter {
    public let name = "gpu-utilization"

    public init() {}

    public func filter(_ gpu: GPUCandidate, on node: NodeCandidate, request: ResourceRequest, state: PlacementState) -> FilterVerdict {
        guard let maxUtilization = request.maxGPUUtilization, gpu.gpu.utilization >= maxUtilization * 100 else { return .pass }
        return .reject("utilisation \(gpu.gpu.utilization.formatted) % ≥ \((maxUtilization * 100).formatted) %")
    }
}
