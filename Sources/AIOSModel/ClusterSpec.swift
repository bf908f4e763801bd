/// A cluster document (AIOS clusters registry; DESIGN.md §3): `id, regionId, clusterMetadata{vendor,...}, tags,
/// reputation, config, nodes{count, nodeData[]}` and totals `gpus{count,memory}, vcpus{count}, memory, swap,
/// storage, network` that are sums over the nodes.
public struct ClusterSpec: Sendable, Equatable {
    public var id: String
    /// The cluster's own fields, without `nodes` (nodes are kept apart and summed on read).
    public var document: [String: JSONValue]
    public var nodes: [NodeSpec]

    /// The embedded cluster: this machine, registered by `aios up`.
    public static let localId = "local"

    /// The driver that runs the cluster's instances (`host`, `simulated`, ...), when it names one.
    public var driver: String? { document["driver"]?.stringValue }

    public init(id: String, document: [String: JSONValue], nodes: [NodeSpec]) {
        self.id = id
        self.document = document
        self.nodes = nodes
    }

    public init(envelope: SpecEnvelope) throws(APIError) {
        let path = envelope.valuesPath
        var document = envelope.values
        var reader = FieldReader()
        let id = reader.string(document, "id", at: path, required: true)
        if let id, let problem = ResourceName.problem(id) { reader.fail(path / "id", problem) }
        _ = reader.string(document, "regionId", at: path)
        _ = reader.object(document, "clusterMetadata", at: path)
        _ = reader.object(document, "config", at: path)
        if let driver = reader.string(document, "driver", at: path), let problem = ResourceName.problem(driver) { reader.fail(path / "driver", problem) }
        _ = reader.stringArray(document, "tags", at: path)
        _ = reader.number(document, "reputation", at: path)

        var nodes: [NodeSpec] = []
        if let nodesObject = reader.object(document, "nodes", at: path) {
            if let nodeData = reader.array(nodesObject, "nodeData", at: path / "nodes") {
                var seen: Set<String> = []
                for (index, element) in nodeData.enumerated() {
                    let elementPath = path / "nodes" / "nodeData" / index
                    guard let object = element.objectValue else {
                        reader.fail(elementPath, "expected a node object, got \(element.typeName)")
                        continue
                    }
                    guard let node = NodeSpec.read(object, at: elementPath, reader: &reader) else { continue }
                    if !seen.insert(node.id).inserted {
                        reader.fail(elementPath / "id", "duplicate node id \"\(node.id)\"")
                    }
                    nodes.append(node)
                }
                if let count = reader.int(nodesObject, "count", at: path / "nodes", minimum: 0), count != nodeData.count {
                    reader.fail(path / "nodes" / "count", "is \(count) but nodes.nodeData lists \(nodeData.count) nodes")
                }
            }
        }
        if !nodes.isEmpty, let declared = document["gpus"]?["count"]?.intValue {
            let summed = nodes.reduce(0) { $0 + $1.gpuCount }
            if declared != summed {
                reader.fail(path / "gpus" / "count", "is \(declared) but the cluster's nodes have \(summed) GPUs; omit it to have it summed")
            }
        }
        try reader.check()
        guard let id else { throw APIError.validation(reader.errors) }
        document.removeValue(forKey: "nodes")
        if document["regionId"] == nil { document["regionId"] = "default" }
        if document["tags"] == nil { document["tags"] = [] }
        if document["clusterMetadata"] == nil { document["clusterMetadata"] = [:] }
        self.init(id: id, document: document, nodes: nodes)
    }

    /// The cluster document as served and filtered on: its own fields, `nodes{count,nodeData}`, and totals
    /// summed over the nodes (kept as declared when the cluster has no node documents).
    public var assembled: JSONValue {
        var document = self.document
        document["nodes"] = ["count": .number(Double(nodes.count)), "nodeData": .array(nodes.map { .object($0.document) })]
        guard !nodes.isEmpty else { return .object(document) }
        func sum(_ path: String) -> JSONValue {
            .number(nodes.reduce(0) { $0 + (JSONValue.object($1.document).value(atDottedPath: path)?.numberValue ?? 0) })
        }
        document["gpus"] = ["count": sum("gpus.count"), "memory": sum("gpus.memory")]
        document["vcpus"] = ["count": sum("vcpus.count")]
        document["memory"] = sum("memory")
        document["swap"] = sum("swap")
        document["storage"] = ["disks": sum("storage.disks"), "size": sum("storage.size")]
        document["network"] = [
            "interfaces": sum("network.interfaces"),
            "txBandwidth": sum("network.txBandwidth"),
            "rxBandwidth": sum("network.rxBandwidth"),
        ]
        return .object(document)
    }
}
