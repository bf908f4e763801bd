import AIOSModel

extension ResourceRequest {
    /// `node_selector`: an object of label → value; every value must be a string (node labels are strings).
    static func readNodeSelector(_ parameters: [String: JSONValue], at path: FieldPath, reader: inout FieldReader) -> [String: String] {
        guard let selector = reader.object(parameters, "node_selector", at: path) else { return [:] }
        var labels: [String: String] = [:]
        for (key, value) in selector.sorted(by: { $0.key < $1.key }) {
            if key.isEmpty {
                reader.fail(path / "node_selector", "a label name must not be empty")
            } else if let text = value.stringValue {
                labels[key] = text
            } else {
                reader.fail(path / "node_selector" / key, "expected a string (node labels are strings; write \(value.jsonString()) in quotes), got \(value.typeName)")
            }
        }
        return labels
    }

    /// `gpu_model` (a string) and `gpu_models` (a list of strings), merged; each must name a model.
    static func readGPUModels(_ parameters: [String: JSONValue], at path: FieldPath, reader: inout FieldReader) -> [String] {
        var models: [String] = []
        if let model = reader.string(parameters, "gpu_model", at: path) {
            if GPUModelName.words(model).isEmpty {
                reader.fail(path / "gpu_model", "must name a GPU model (such as \"H100\"), got \"\(model)\"")
            } else {
                models.append(model)
            }
        }
        if let list = reader.stringArray(parameters, "gpu_models", at: path) {
            if list.isEmpty {
                reader.fail(path / "gpu_models", "must list at least one GPU model (leave it out to accept any model)")
            }
            for (index, model) in list.enumerated() {
                if GPUModelName.words(model).isEmpty {
                    reader.fail(path / "gpu_models" / index, "must name a GPU model (such as \"H100\"), got \"\(model)\"")
                } else if !models.contains(model) {
                    models.append(model)
                }
            }
        }
        return models
    }
}
