/// A check one GPU must pass to count towards an instance's `gpus` (utilisation, free memory, model).
///
/// The placer runs the GPU filters on each GPU a node reports, when the request asks for GPUs, before the
/// node filters: a GPU's first rejection is recorded (as `GPU <id>: <reason>`) and the rest are not run on
/// it. The GPUs every GPU filter passes are the node's ``NodeCandidate/qualifyingGPUs``, which
/// ``GPUCountFilter`` counts.
public protocol GPUFilter: Sendable {
    /// Short, stable, kebab-case: how the placement report names the filter.
    var name: String { get }

    /// Reasons are written without the GPU's id; the report adds it.
    func filter(_ gpu: GPUCandidate, on node: NodeCandidate, request: ResourceRequest, state: PlacementState) -> FilterVerdict
}
