import AIOSModel
import AIOSVDAG

/// A model plan (`planVersion` 1, `docs/model-plan.md`): the model, its splits (a contiguous layer range, an
/// artifact, the memory it needs and the block spec that runs it) and the vDAG spec chaining the splits'
/// blocks in order. Reading one checks every rule and reports all problems at once, each with its path.
public struct ModelPlan: Sendable, Equatable {
    public static let version = 1

    public struct Model: Sendable, Equatable {
        public var name: String
        public var architecture: String
        public var layers: Int
        public var dtype: String
    }

    public struct Split: Sendable, Equatable {
        public var splitId: String
        /// `[start, end)`.
        public var layers: Range<Int>
        public var artifact: PlanArtifact
        public var memoryMB: Double
        public var block: BlockSpec
        /// The block spec as the plan holds it (envelope or bare values).
        public var blockDocument: JSONValue
    }

    public var model: Model
    public var splits: [Split]
    public var vdag: VDAGSpec
    /// The whole plan as given.
    public var document: [String: JSONValue]

    public init(document: JSONValue) throws(APIError) {
        guard let object = document.objectValue else {
            throw APIError.validation([FieldError(path: .root, message: "a model plan is a JSON object, got \(document.typeName)")])
        }
        var reader = FieldReader()
        if let version = reader.int(object, "planVersion", at: .root, required: true), version != Self.version {
            reader.fail(.root / "planVersion", "this platform reads plan version \(Self.version), got \(version)")
        }
        let model = Self.readModel(object, reader: &reader)
        let splits = Self.readSplits(object, modelLayers: model?.layers, reader: &reader)
        let vdag = Self.readVDAG(object, splits: splits, reader: &reader)
        try reader.check()
        guard let model, let vdag else { throw APIError.validation(reader.errors) }
        self.model = model
        self.splits = splits
        self.vdag = vdag
        self.document = object
    }

    /// The vDAG spec document as the plan holds it.
    public var vdagDocument: JSONValue { document["vdag"] ?? .null }

    /// The plan with each split's artifact stored: `file` dropped, `uri` set.
    public func storingArtifacts() -> JSONValue {
        var object = document
        guard var splits = object["splits"]?.arrayValue else { return .object(object) }
        for (index, split) in self.splits.enumerated() where index < splits.count {
            guard var entry = splits[index].objectValue else { continue }
            var artifact = split.artifact
            artifact.file = nil
            artifact.uri = PlanArtifact.uri(sha256: artifact.sha256)
            entry["artifact"] = artifact.json
            splits[index] = .object(entry)
        }
        object["splits"] = .array(splits)
        return .object(object)
    }

    // MARK: Reading

    private static func readModel(_ object: [String: JSONValue], reader: inout FieldReader) -> Model? {
        guard let model = reader.object(object, "model", at: .root, required: true) else { return nil }
        let path = FieldPath.root / "model"
        let name = reader.string(model, "name", at: path, required: true)
        let architecture = reader.string(model, "architecture", at: path, required: true)
        let layers = reader.int(model, "layers", at: path, required: true, minimum: 1)
        let dtype = reader.string(model, "dtype", at: path, required: true)
        guard let name, let architecture, let layers, let dtype else { return nil }
        return Model(name: name, architecture: architecture, layers: layers, dtype: dtype)
    }

    private static func readSplits(_ object: [String: JSONValue], modelLayers: Int?, reader: inout FieldReader) -> [Split] {
        guard let entries = reader.array(object, "splits", at: .root, required: true) else { return [] }
        if entries.isEmpty { reader.fail(.root / "splits", "must hold at least one split") }
        var splits: [Split] = []
        var splitIds = Set<String>(), blockIds = Set<String>()
        var nextLayer = 0
        for (index, entry) in entries.enumerated() {
            let path = FieldPath.root / "splits" / index
            guard let split = entry.objectValue else {
                reader.fail(path, "expected a split {splitId, layers, artifact, memoryMB, block}, got \(entry.typeName)")
                continue
            }
            let splitId = reader.string(split, "splitId", at: path, required: true)
            if let splitId, !splitIds.insert(splitId).inserted { reader.fail(path / "splitId", "\"\(splitId)\" is used by an earlier split") }
            let layers = readLayers(split, at: path / "layers", expectedStart: nextLayer, reader: &reader)
            if let layers { nextLayer = layers.upperBound }
            let artifact = split["artifact"].flatMap { PlanArtifact($0, at: path / "artifact", reader: &reader) }
            if split["artifact"] == nil { reader.fail(path / "artifact", "required") }
            let memory = reader.number(split, "memoryMB", at: path, required: true, minimum: 0)
            if let memory, memory <= 0 { reader.fail(path / "memoryMB", "must be more than 0") }
            let block = readBlock(split["block"], at: path / "block", memoryMB: memory, reader: &reader)
            if let block, !blockIds.insert(block.blockId).inserted {
                reader.fail(path / "block", "block id \"\(block.blockId)\" is used by an earlier split")
            }
            if let splitId, let layers, let artifact, let memory, let block, let document = split["block"] {
                splits.append(Split(splitId: splitId, layers: layers, artifact: artifact, memoryMB: memory, block: block, blockDocument: document))
            }
        }
        if let modelLayers, !entries.isEmpty, nextLayer != modelLayers, reader.isValid {
            reader.fail(.root / "splits", "the splits cover layers [0, \(nextLayer)) but the model has \(modelLayers)")
        }
        return splits
    }

    private static func readLayers(_ split: [String: JSONValue], at path: FieldPath, expectedStart: Int, reader: inout FieldReader) -> Range<Int>? {
        guard let value = split["layers"], !value.isNull else {
            reader.fail(path, "required: [start, end)")
            return nil
        }
        guard let pair = value.arrayValue, pair.count == 2, let start = pair[0].intValue, let end = pair[1].intValue else {
            reader.fail(path, "expected [start, end) as two integers, got \(value.jsonString())")
            return nil
        }
        guard start >= 0, start < end else {
            reader.fail(path, "needs 0 <= start < end, got [\(start), \(end))")
            return nil
        }
        if start != expectedStart {
            reader.fail(path, start > expectedStart
                ? "starts at layer \(start), but the splits before end at \(expectedStart): layers \(expectedStart)..<\(start) are in no split"
                : "starts at layer \(start), inside the previous split (which ends at \(expectedStart))")
        }
        return start..<end
    }

    /// The split's block spec, checked as `createBlock` would, and its resource ask against `memoryMB`.
    private static func readBlock(_ value: JSONValue?, at path: FieldPath, memoryMB: Double?, reader: inout FieldReader) -> BlockSpec? {
        guard let value, !value.isNull else {
            reader.fail(path, "required: the split's block spec")
            return nil
        }
        let spec: BlockSpec
        do {
            spec = try BlockSpec(envelope: SpecEnvelope(document: value), generateID: { "" })
        } catch {
            reader.absorb(error.fields.isEmpty
                ? [FieldError(path: path, message: error.message)]
                : error.fields.map { FieldError(path: path.description + ($0.path.isEmpty ? "" : ".\($0.path)"), message: $0.message) })
            return nil
        }
        if spec.blockId.isEmpty { reader.fail(path, "needs a blockId (the vDAG's nodes name it)") }
        if let memoryMB { checkResourceAsk(spec, at: path, memoryMB: memoryMB, reader: &reader) }
        return spec
    }

    /// The block's `resourceAllocator` must reserve at least the split's memory where the split will hold it.
    private static func checkResourceAsk(_ spec: BlockSpec, at path: FieldPath, memoryMB: Double, reader: inout FieldReader) {
        let rules = spec.values["policyRulesSpec"]?.arrayValue ?? []
        guard let index = rules.lastIndex(where: { $0["values"]?["name"]?.stringValue == "resourceAllocator" }) else {
            reader.fail(path, "needs a resourceAllocator rule asking for the split's \(memoryMB.formatted) MB, so placement puts it where it fits")
            return
        }
        let parameters = rules[index]["values"]?["parameters"]?.objectValue ?? [:]
        let valuesPath = spec.valuesPath.description
        let rulePath = FieldPath(dotted: path.description + (valuesPath.isEmpty ? "" : ".\(valuesPath)"))
            / "policyRulesSpec" / index / "values" / "parameters"
        let gpus = parameters["gpus"]?.intValue ?? 0
        if gpus > 0 {
            let asked = parameters["min_gpu_free_memory"]?.numberValue ?? 0
            if asked < memoryMB {
                reader.fail(rulePath / "min_gpu_free_memory", "asks \(asked.formatted) MB per GPU, less than the split's memoryMB \(memoryMB.formatted)")
            }
        } else {
            let key = parameters["min_memory_mb"] != nil ? "min_memory_mb" : "memory"
            let asked = parameters[key]?.numberValue ?? 0
            if asked < memoryMB {
                reader.fail(rulePath / key, "asks \(asked.formatted) MB of host memory, less than the split's memoryMB \(memoryMB.formatted)")
            }
        }
    }

    /// The vDAG must chain exactly the splits' blocks, in split order.
    private static func readVDAG(_ object: [String: JSONValue], splits: [Split], reader: inout FieldReader) -> VDAGSpec? {
        guard let value = object["vdag"], !value.isNull else {
            reader.fail(.root / "vdag", "required: the vDAG spec chaining the splits")
            return nil
        }
        let path = FieldPath.root / "vdag"
        let spec: VDAGSpec
        do {
            spec = try VDAGSpec(envelope: SpecEnvelope(document: value))
        } catch {
            reader.absorb(error.fields.isEmpty
                ? [FieldError(path: path, message: error.message)]
                : error.fields.map { FieldError(path: "vdag" + ($0.path.isEmpty ? "" : ".\($0.path)"), message: $0.message) })
            return nil
        }
        guard reader.isValid else { return spec }
        var labels: [String] = []
        for split in splits {
            guard let node = spec.nodes.first(where: { if case .manual(split.block.blockId) = $0.assignment { true } else { false } }) else {
                reader.fail(path / "nodes", "no node runs split \(split.splitId)'s block \"\(split.block.blockId)\" (manualBlockId)")
                continue
            }
            labels.append(node.label)
        }
        if spec.nodes.count != splits.count {
            reader.fail(path / "nodes", "has \(spec.nodes.count) nodes for \(splits.count) splits: one node per split, no more")
        }
        guard labels.count == splits.count, !labels.isEmpty else { return spec }
        if spec.graph.inputs != [labels[0]] {
            reader.fail(path / "graph" / "input", "the input must be the first split's node \"\(labels[0])\", got \(spec.graph.inputs)")
        }
        if spec.graph.outputs != [labels[labels.count - 1]] {
            reader.fail(path / "graph" / "output", "the output must be the last split's node \"\(labels[labels.count - 1])\", got \(spec.graph.outputs)")
        }
        for index in labels.indices.dropFirst() {
            let parents = spec.graph.parents[labels[index]] ?? []
            if parents != [labels[index - 1]] {
                reader.fail(path / "graph" / "connections", "node \"\(labels[index])\" (split \(index)) must have exactly the previous split's node \"\(labels[index - 1])\" as parent, got \(parents)")
            }
        }
        return spec
    }
}
