import AIOSModel

/// The variables a filter may name in one kind of document, with their types, so that a query is
/// type-checked once, when the block is created, instead of silently matching nothing.
public struct VariableSchema: Sendable {
    public enum FieldType: String, Sendable {
        case number, string, boolean, any
    }

    /// Exact paths (aliases normalised: `load_15m` is `load15m`).
    let fields: [String: FieldType]
    /// Subtrees where users put their own keys (`clusterMetadata.*`, `labels.*`): any path below is accepted.
    let openPrefixes: [String]
    /// Paths whose values are lists (`nodes.nodeData`): a variable through one of them reaches many values,
    /// which is what an aggregate needs.
    let lists: Set<String>
    public let documentName: String

    public init(documentName: String, fields: [String: FieldType], openPrefixes: [String] = [], lists: Set<String> = []) {
        self.documentName = documentName
        self.fields = fields
        self.openPrefixes = openPrefixes
        self.lists = lists
    }

    /// Whether `variable` goes through a list (so an aggregate over it is meaningful): `false` when the
    /// schema or the samples say it is a single value, `nil` when neither can tell (a user's own key no
    /// sample holds).
    public func passesThroughList(_ variable: DocumentPath, samples: [JSONValue]) -> Bool? {
        let keys = variable.keys.map { $0.hasPrefix("load_") ? DocumentPath.alias($0) : $0 }
        let prefixes = keys.indices.map { keys[...$0].joined(separator: ".") }
        if prefixes.contains(where: lists.contains) { return true }
        let seen = samples.compactMap { variable.passesThroughList(in: $0) }
        if seen.contains(true) { return true }
        if fields[keys.joined(separator: ".")] != nil || !seen.isEmpty { return false }
        return nil
    }

    /// The type of `variable`, looking at the schema and then at sample documents; `nil` when unknown.
    public func type(of variable: DocumentPath, samples: [JSONValue]) -> FieldType? {
        let normalised = variable.keys.map { $0.hasPrefix("load_") ? DocumentPath.alias($0) : $0 }.joined(separator: ".")
        if let type = fields[normalised] { return type }
        if openPrefixes.contains(where: { normalised == $0 || normalised.hasPrefix($0 + ".") }) { return .any }
        for sample in samples {
            let values = variable.values(in: sample)
            if let first = values.first {
                switch first {
                case .number: return .number
                case .string: return .string
                case .bool: return .boolean
                default: return .any
                }
            }
            if variable.exists(in: sample) { return .any }
        }
        return nil
    }

    /// Known variable names, for error messages.
    public var knownVariables: [String] { fields.keys.sorted() }
}

extension VariableSchema {
    private static func node(prefix: String) -> [String: FieldType] {
        let fields: [String: FieldType] = [
            "id": .string, "gpus.count": .number, "gpus.memory": .number, "gpus.modelNames": .string, "gpus.features": .string,
            "gpus.gpus.modelName": .string, "gpus.gpus.memory": .number, "gpus.gpus.gpu_id": .string,
            "vcpus.count": .number, "memory": .number, "swap": .number, "storage.disks": .number, "storage.size": .number,
            "network.interfaces": .number, "network.txBandwidth": .number, "network.rxBandwidth": .number, "tags": .string,
        ]
        return Dictionary(uniqueKeysWithValues: fields.map { (prefix + $0.key, $0.value) })
    }

    /// The cluster document (`clusterQuery`).
    public static let cluster = VariableSchema(
        documentName: "cluster",
        fields: [
            "id": .string, "regionId": .string, "tags": .string, "reputation": .number, "status": .string,
            "gpus.count": .number, "gpus.memory": .number, "vcpus.count": .number, "memory": .number, "swap": .number,
            "storage.disks": .number, "storage.size": .number, "network.interfaces": .number,
            "network.txBandwidth": .number, "network.rxBandwidth": .number, "nodes.count": .number,
        ].merging(node(prefix: "nodes.nodeData.")) { first, _ in first },
        openPrefixes: ["clusterMetadata", "config", "nodes.nodeData.labels", "nodes.nodeData.nodeMetadata"],
        lists: ["tags", "nodes.nodeData"])

    private static let nodeMetrics: [String: FieldType] = [
        "vcpu.load1m": .number, "vcpu.load5m": .number, "vcpu.load15m": .number, "vcpu.count": .number, "vcpu.usage": .number,
        "memory.freeMem": .number, "memory.usedMem": .number, "memory.totalMem": .number, "memory.averageUtil": .number,
        "gpu.count": .number, "gpu.totalMem": .number, "gpu.totalFreeMem": .number, "gpu.totalUsedMem": .number,
        "gpu.avgCudaUtilization": .number, "gpu.avgMemUtilization": .number,
        "gpus.gpu_id": .string, "gpus.cudaUtilization": .number, "gpus.memUtilization": .number,
        "gpus.freeMem": .number, "gpus.usedMem": .number, "gpus.totalMem": .number,
    ]

    /// The cluster metrics document (`clusterMetricsQuery`): `clusterId`, `cluster.*` aggregates, `nodes[]`.
    public static let clusterMetrics = VariableSchema(
        documentName: "cluster metrics",
        fields: ["clusterId": .string, "nodes.nodeId": .string]
            .merging(nodeMetrics.filter { !$0.key.hasPrefix("gpus.") }.map { ("cluster." + $0.key, $0.value) }) { first, _ in first }
            .merging(nodeMetrics.map { ("nodes." + $0.key, $0.value) }) { first, _ in first },
        lists: ["nodes"])
}
