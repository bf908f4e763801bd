/// The plugins a placement decision runs: node filters in order, GPU filters on each GPU, then scorers on the
/// nodes that passed. ``builtIn`` is what the platform places with; a plugin of one's own is added to a copy
/// and the copy given to ``Placer/place(_:in:reservations:plugins:newInstanceId:)``.
public struct PlacementPlugins: Sendable {
    public var filters: [any NodeFilter]
    public var gpuFilters: [any GPUFilter]
    public var scorers: [any NodeScorer]

    public init(filters: [any NodeFilter], gpuFilters: [any GPUFilter], scorers: [any NodeScorer]) {
        self.filters = filters
        self.gpuFilters = gpuFilters
        self.scorers = scorers
    }

    /// Nodes that cannot take work and node selectors first (a node they reject is not a candidate at all), then fresh metrics, CPUs, memory,
    /// and enough qualifying GPUs on the node; GPUs qualify on model, utilisation and free memory. Scoring
    /// keeps GPU nodes for GPU work, then follows `selection_mode`.
    public static let builtIn = PlacementPlugins(
        filters: [NodeSchedulableFilter(), NodeSelectorFilter(), GPUModelFilter(), MetricsFreshnessFilter(), CPUFilter(), MemoryFilter(), GPUCountFilter()],
        gpuFilters: [GPUModelFilter(), GPUUtilizationFilter(), GPUMemoryFilter()],
        scorers: [GPUNodesForGPUWorkScorer(), SelectionModeScorer()])
}
