/// A node document (DESIGN.md §3): `id, gpus{count, memory, gpus[{modelName, memory}], features, modelNames},
/// vcpus{count}, memory, swap, storage{disks,size}, network{interfaces,txBandwidth,rxBandwidth}, labels, tags,
/// nodeMetadata`. Memory is in MB. `gpus.count` and `gpus.memory` are filled from the GPU list when absent.
public struct NodeSpec: Sendable, Equatable {
    public var id: String
    public var document: [String: JSONValue]

    public init(id: String, document: [String: JSONValue]) {
        self.id = id
        self.document = document
    }

    public init(document: [String: JSONValue], at path: FieldPath) throws(APIError) {
        var reader = FieldReader()
        let node = Self.read(document, at: path, reader: &reader)
        try reader.check()
        guard let node else { throw APIError.validation(reader.errors) }
        self = node
    }

    /// Reads a node, recording problems in `reader`; `nil` when it is unusable.
    public static func read(_ document: [String: JSONValue], at path: FieldPath, reader: inout FieldReader) -> NodeSpec? {
        var node = document
        let id = reader.string(document, "id", at: path, required: true)
        if let id, let problem = ResourceName.problem(id) { reader.fail(path / "id", problem) }

        if var gpus = reader.object(document, "gpus", at: path) {
            let gpusPath = path / "gpus"
            let count = reader.int(gpus, "count", at: gpusPath, minimum: 0)
            let memory = reader.number(gpus, "memory", at: gpusPath, minimum: 0)
            _ = reader.stringArray(gpus, "modelNames", at: gpusPath)
            _ = reader.stringArray(gpus, "features", at: gpusPath)
            if let list = reader.array(gpus, "gpus", at: gpusPath) {
                var totalMemory = 0.0
                for (index, gpu) in list.enumerated() {
                    guard let gpu = gpu.objectValue else {
                        reader.fail(gpusPath / "gpus" / index, "expected an object {modelName, memory}")
                        continue
                    }
                    _ = reader.string(gpu, "modelName", at: gpusPath / "gpus" / index)
                    totalMemory += reader.number(gpu, "memory", at: gpusPath / "gpus" / index, minimum: 0) ?? 0
                }
                if let count, count != list.count {
                    reader.fail(gpusPath / "count", "is \(count) but gpus.gpus lists \(list.count) GPUs")
                }
                if count == nil { gpus["count"] = .number(Double(list.count)) }
                if memory == nil { gpus["memory"] = .number(totalMemory) }
            }
            node["gpus"] = .object(gpus)
        } else {
            node["gpus"] = ["count": 0, "memory": 0, "gpus": []]
        }
        if let vcpus = reader.object(document, "vcpus", at: path) {
            _ = reader.int(vcpus, "count", at: path / "vcpus", minimum: 0)
        }
        for key in ["memory", "swap"] { _ = reader.number(document, key, at: path, minimum: 0) }
        if let storage = reader.object(document, "storage", at: path) {
            for key in ["disks", "size"] { _ = reader.number(storage, key, at: path / "storage", minimum: 0) }
        }
        if let network = reader.object(document, "network", at: path) {
            for key in ["interfaces", "txBandwidth", "rxBandwidth"] { _ = reader.number(network, key, at: path / "network", minimum: 0) }
        }
        if let labels = reader.object(document, "labels", at: path) {
            for (key, value) in labels where value.stringValue == nil {
                reader.fail(path / "labels" / key, "expected a string, got \(value.typeName)")
            }
        }
        _ = reader.stringArray(document, "tags", at: path)
        _ = reader.object(document, "nodeMetadata", at: path)
        guard let id else { return nil }
        return NodeSpec(id: id, document: node)
    }

    public var gpuCount: Int { document["gpus"]?["count"]?.intValue ?? 0 }
}

/// `POST /api/addNode`: `{clusterId, nodeData: {...}}`, or the node fields beside `clusterId` as the AIOS docs show.
public struct AddNodeRequest: Sendable {
    public var clusterId: String
    public var node: NodeSpec

    public init(envelope: SpecEnvelope) throws(APIError) {
        let path = envelope.valuesPath
        var reader = FieldReader()
        let clusterId = reader.string(envelope.values, "clusterId", at: path, required: true)
        var node: NodeSpec?
        if envelope.values["nodeData"] != nil {
            if let nodeData = reader.object(envelope.values, "nodeData", at: path, required: true) {
                node = NodeSpec.read(nodeData, at: path / "nodeData", reader: &reader)
            }
        } else {
            var fields = envelope.values
            fields.removeValue(forKey: "clusterId")
            node = NodeSpec.read(fields, at: path, reader: &reader)
        }
        try reader.check()
        guard let clusterId, let node else { throw APIError.validation(reader.errors) }
        self.clusterId = clusterId
        self.node = node
    }
}
