import AIOSModel
import AIOSPolicy

/// What one instance needs on its node, from the `resourceAllocator` policy's parameters and settings:
/// `gpus` (all on one node), `max_gpu_utilization` (0–1), `min_gpu_free_memory` (MB), `cpus`, `min_memory_mb`,
/// and `selection_mode` `greedy` | `balanced` | `lightest-load`; and node selectors: `node_selector` (label → value,
/// every one must equal the node's label) and `gpu_model` / `gpu_models` (see ``GPUModelName`` for how a
/// model matches; only GPUs of a wanted model count towards `gpus`).
///
/// An instance that asks for no CPUs or memory still reserves `defaultCPUs` and `defaultMemoryMB`, so a node's
/// capacity is never oversubscribed silently (a thousand instances asking nothing do not fit on two cores).
/// The defaults are checked where the node's capacity is known (its declared CPUs, its reported memory);
/// an explicit request is checked everywhere.
public struct ResourceRequest: Sendable, Equatable {
    /// CPUs an instance reserves when its `resourceAllocator` does not say.
    public static let defaultCPUs = 0.1
    /// MB of memory an instance reserves when its `resourceAllocator` does not say.
    public static let defaultMemoryMB = 64.0

    public enum SelectionMode: String, Sendable, CaseIterable {
        /// Pack: fill the nodes and GPUs already in use before opening new ones.
        case greedy
        /// Spread: put each instance on the node with the fewest instances of this block.
        case balanced
        /// The least loaded node and GPUs first.
        case lightestLoad = "lightest-load"
    }

    public var gpus: Int
    /// Fraction 0–1; a GPU at or above it is not used.
    public var maxGPUUtilization: Double?
    /// MB each GPU must have free; also what the instance reserves on each GPU. Without it the GPU is taken whole.
    public var minGPUFreeMemory: Double?
    /// CPUs reserved per instance: as asked, else `defaultCPUs`.
    public var cpus: Double
    /// MB reserved per instance: as asked, else `defaultMemoryMB`.
    public var memory: Double
    /// Whether `cpus` and `memory` were asked for (else they are the defaults).
    public var cpusGiven: Bool
    public var memoryGiven: Bool
    public var selectionMode: SelectionMode
    /// Labels a node must carry, each with exactly this value (`node_selector`); empty: any node.
    public var nodeSelector: [String: String]
    /// GPU models wanted (`gpu_model` and `gpu_models` together; any one will do); empty: any model.
    public var gpuModels: [String]
    /// The policy's parameters as written, for plugins that read parameters of their own.
    public var parameters: [String: JSONValue]

    /// `cpus` and `memory` left out (nil) reserve the defaults.
    public init(gpus: Int = 0, maxGPUUtilization: Double? = nil, minGPUFreeMemory: Double? = nil, cpus: Double? = nil, memory: Double? = nil,
                selectionMode: SelectionMode = .balanced, nodeSelector: [String: String] = [:], gpuModels: [String] = [],
                parameters: [String: JSONValue] = [:]) {
        self.gpus = gpus
        self.maxGPUUtilization = maxGPUUtilization
        self.minGPUFreeMemory = minGPUFreeMemory
        self.cpus = cpus ?? Self.defaultCPUs
        self.memory = memory ?? Self.defaultMemoryMB
        self.cpusGiven = cpus != nil
        self.memoryGiven = memory != nil
        self.selectionMode = selectionMode
        self.nodeSelector = nodeSelector
        self.gpuModels = gpuModels
        self.parameters = parameters
    }

    public init(rule: PolicyRule?) throws(APIError) {
        guard let rule else {
            self.init()
            return
        }
        var reader = FieldReader()
        let parameters = rule.parameters, path = rule.location / "parameters"
        let gpus = reader.int(parameters, "gpus", at: path, minimum: 0) ?? 0
        var maxUtilization = reader.number(parameters, "max_gpu_utilization", at: path, minimum: 0)
        if let value = maxUtilization, value > 1 {
            reader.fail(path / "max_gpu_utilization", "is a fraction 0–1 (0.9 means 90 %), got \(value.formatted)")
            maxUtilization = nil
        }
        let minFree = reader.number(parameters, "min_gpu_free_memory", at: path, minimum: 0)
        let cpus = reader.number(parameters, "cpus", at: path, minimum: 0)
        let memoryKey = parameters["min_memory_mb"] != nil ? "min_memory_mb" : "memory"
        let memory = reader.number(parameters, memoryKey, at: path, minimum: 0)
        var mode = SelectionMode.balanced
        for (source, location) in [(rule.parameters, path), (rule.settings, rule.location / "settings")] {
            if let text = reader.string(source, "selection_mode", at: location) {
                if let parsed = SelectionMode(rawValue: text) {
                    mode = parsed
                } else {
                    reader.fail(location / "selection_mode", "expected greedy, balanced or lightest-load, got \"\(text)\"")
                }
            }
        }
        let nodeSelector = Self.readNodeSelector(parameters, at: path, reader: &reader)
        let gpuModels = Self.readGPUModels(parameters, at: path, reader: &reader)
        try reader.check()
        self.init(gpus: gpus, maxGPUUtilization: maxUtilization, minGPUFreeMemory: minFree, cpus: cpus, memory: memory, selectionMode: mode,
                  nodeSelector: nodeSelector, gpuModels: gpuModels, parameters: parameters)
    }

    /// What the instance reserves on each GPU it gets, given the GPU's total memory.
    func gpuReservation(totalMemory: Double) -> Double {
        minGPUFreeMemory ?? totalMemory
    }
}
