import AIOSModel

extension CapacitySnapshot.Node {
    /// `nodes`, each one that lacks labels, GPU models or its live GPUs' model names filled from its entry
    /// (same `id`) in the cluster document's `nodes.nodeData[]`. Nodes that have them all are left as given.
    static func filled(_ nodes: [Self], from clusterDocument: JSONValue) -> [Self] {
        guard nodes.contains(where: \.lacksHardwareDetails),
              let entries = clusterDocument["nodes"]?["nodeData"]?.arrayValue, !entries.isEmpty
        else { return nodes }
        var documents: [String: JSONValue] = [:]
        for entry in entries {
            if let id = entry["id"]?.stringValue, documents[id] == nil { documents[id] = entry }
        }
        return nodes.map { node in
            guard node.lacksHardwareDetails, let document = documents[node.id] else { return node }
            var filled = node
            filled.fillHardware(from: document)
            return filled
        }
    }

    var lacksHardwareDetails: Bool {
        labels.isEmpty || gpuModels.isEmpty || (live?.gpus.contains { $0.modelName == nil } ?? false)
    }

    /// Fills what is missing from a node document (`labels`, `gpus{gpus[{modelName, gpu_id}], modelNames}`).
    ///
    /// A live GPU's model is the declared GPU with the same `gpu_id` (or `id`); else the declared GPU at the
    /// index its id names (`"2"` → the third); else the one at its position among the reported GPUs; else,
    /// when the node declares a single model, that one.
    public mutating func fillHardware(from document: JSONValue) {
        if labels.isEmpty, let declared = document["labels"]?.objectValue {
            labels = declared.compactMapValues(\.stringValue)
        }
        let declaredGPUs = document["gpus"]?["gpus"]?.arrayValue ?? []
        let listedModels = declaredGPUs.compactMap { $0["modelName"]?.stringValue }
        let modelNames = document["gpus"]?["modelNames"]?.arrayValue?.compactMap(\.stringValue) ?? []
        if gpuModels.isEmpty {
            gpuModels = listedModels.isEmpty ? modelNames : listedModels
        }
        guard var live, live.gpus.contains(where: { $0.modelName == nil }) else { return }
        let distinct = Set(listedModels + modelNames)
        let onlyModel = distinct.count == 1 ? distinct.first : nil
        func model(at index: Int) -> String? {
            declaredGPUs.indices.contains(index) ? declaredGPUs[index]["modelName"]?.stringValue : nil
        }
        for (position, gpu) in live.gpus.enumerated() where gpu.modelName == nil {
            let byId = declaredGPUs.first { ($0["gpu_id"] ?? $0["id"])?.stringValue == gpu.id }?["modelName"]?.stringValue
            live.gpus[position].modelName = byId ?? Int(gpu.id).flatMap(model(at:)) ?? model(at: position) ?? onlyModel
        }
        self.live = live
    }
}
