import AIOSModel

/// A vDAG ready to run: every node with its block and processing steps, the validated graph, and the deadline.
public struct VDAGPlan: Sendable {
    public struct Node: Sendable {
        public var label: String
        public var blockId: String
        public var preprocess: VDAGProcessor
        public var postprocess: VDAGProcessor
        /// The rules as written: a registered custom policy of their URI runs before the built-in step.
        public var preprocessingRule: VDAGProcessingRule?
        public var postprocessingRule: VDAGProcessingRule?
    }

    public var uri: String
    public var nodes: [String: Node]
    public var graph: VDAGGraph
    /// `controller.initSettings.maxOutputWaitTimeSeconds`: the whole graph's deadline.
    public var timeout: Duration
    public var quota: VDAGQuota?
    /// What the vDAG's creation should say (processing policies that are not built in).
    public var notes: [String]

    /// Compiles `spec` with its nodes' blocks. Errors name the bad processing rule.
    public init(spec: VDAGSpec, assignment: [String: String]) throws(APIError) {
        var nodes: [String: Node] = [:]
        var notes: [String] = []
        var errors: [FieldError] = []
        for node in spec.nodes {
            guard let blockId = assignment[node.label] else {
                errors.append(FieldError(path: node.path, message: "node \(node.label) has no block assigned"))
                continue
            }
            var steps: [VDAGProcessor] = []
            for (rule, key) in [(node.preprocessing, "preprocessingPolicyRule"), (node.postprocessing, "postprocessingPolicyRule")] {
                do {
                    let (processor, note) = try VDAGProcessor.resolve(rule, at: node.path / key)
                    steps.append(processor)
                    if let note { notes.append(note) }
                } catch {
                    errors += error.fields
                    steps.append(.identity)
                }
            }
            nodes[node.label] = Node(label: node.label, blockId: blockId, preprocess: steps[0], postprocess: steps[1],
                                     preprocessingRule: node.preprocessing, postprocessingRule: node.postprocessing)
        }
        if !errors.isEmpty { throw APIError.validation(errors) }
        self.uri = spec.uri.description
        self.nodes = nodes
        self.graph = spec.graph
        self.timeout = .milliseconds(Int64(spec.controller.maxOutputWaitSeconds * 1000))
        self.quota = spec.controller.quota
        self.notes = notes
    }
}
