/// `gpu_model` / `gpu_models` (matched as ``GPUModelName`` says).
///
/// As a node filter: the node must have at least one GPU of a wanted model, declared in its document or
/// reported by its metrics; rejecting a node skips the other filters. As a GPU filter: a GPU of another (or
/// an unknown) model does not count towards the request's `gpus`.
public struct GPUModelFilter: NodeFilter, GPUFilter {
    public let name = "gpu-model"
    public let skipsRestWhenRejecting = true

    public init() {}

    public func filter(_ node: NodeCandidate, request: ResourceRequest, state: PlacementState) -> FilterVerdict {
        guard !request.gpuModels.isEmpty else { return .pass }
        let declared = node.node.gpuModels, reported = node.gpus.compactMap(\.gpu.modelName)
        if (declared + reported).contains(where: { GPUModelName.matches(anyOf: request.gpuModels, $0) }) { return .pass }
        let models = declared.isEmpty ? reported : declared
        let has: String
        if models.isEmpty {
            has = node.hasGPUs ? "neither its document nor its metrics name its GPUs' model" : "it has no GPUs"
        } else {
            let counts = Dictionary(models.map { ($0, 1) }, uniquingKeysWith: +)
            has = "it has " + counts.keys.sorted().map { "\($0) ×\(counts[$0] ?? 0)" }.joined(separator: ", ")
        }
        return .reject("no GPU of model \(Self.wanted(request)); \(has)")
    }

    public func filter(_ gpu: GPUCandidate, on node: NodeCandidate, request: ResourceRequest, state: PlacementState) -> FilterVerdict {
        guard !request.gpuModels.isEmpty else { return .pass }
        guard let model = gpu.gpu.modelName else { return .reject("model unknown, needs \(Self.wanted(request))") }
        return GPUModelName.matches(anyOf: request.gpuModels, model) ? .pass : .reject("model \(model), needs \(Self.wanted(request))")
    }

    static func wanted(_ request: ResourceRequest) -> String {
        request.gpuModels.count == 1 ? request.gpuModels[0] : "one of " + request.gpuModels.joined(separator: ", ")
    }
}
