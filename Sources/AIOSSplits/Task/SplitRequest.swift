import AIOSModel

/// A `POST /api/splits` request, checked: which model to split, into how many splits, by which splitter, and
/// how the plan's blocks should be placed (`docs/model-plan.md` §1).
public struct SplitRequest: Sendable, Equatable {
    public enum Splitter: Sendable, Equatable {
        /// A splitter that ships with the platform (`layer-range`).
        case builtIn(String)
        /// A program on the split SDK.
        case program(command: [String], cwd: String, environment: [String: String])
    }

    public enum Strategy: String, Sendable, CaseIterable {
        case even, balanced
    }

    /// A node the splits are sized for (`balanced`).
    public struct TargetNode: Sendable, Equatable {
        public var clusterId: String?
        public var nodeId: String
        public var freeMemoryMB: Double

        public init(clusterId: String?, nodeId: String, freeMemoryMB: Double) {
            self.clusterId = clusterId
            self.nodeId = nodeId
            self.freeMemoryMB = freeMemoryMB
        }

        public var json: JSONValue {
            var object: [String: JSONValue] = ["nodeId": .string(nodeId), "freeMemoryMB": .number(freeMemoryMB)]
            if let clusterId { object["clusterId"] = .string(clusterId) }
            return .object(object)
        }
    }

    public static let builtInSplitters = ["layer-range"]
    public static let defaultRunner = "model.smollm2-split:0.1.0-stable"
    public static let defaultTimeout = 1800.0
    static let fields: Set<String> = ["model", "splits", "splitter", "strategy", "target_nodes", "clusterId", "gpus", "runner", "name", "timeout_s"]

    public var model: String
    public var splits: Int?
    public var splitter: Splitter
    public var strategy: Strategy
    public var targetNodes: [TargetNode]
    public var clusterId: String?
    public var gpus: Int
    public var runner: ComponentURI
    public var name: String?
    public var timeout: Double

    public init(document: JSONValue) throws(APIError) {
        guard let body = document.objectValue else {
            throw APIError.validation([FieldError(path: .root, message: "expected {\"model\", \"splits\", \"splitter\"}, got \(document.typeName)")])
        }
        var reader = FieldReader()
        for key in body.keys.sorted() where !Self.fields.contains(key) {
            reader.fail(.root / key, "unknown field; expected one of \(Self.fields.sorted().joined(separator: ", "))")
        }
        let model = reader.string(body, "model", at: .root, required: true)
        if let model, !model.hasPrefix("/") {
            reader.fail(.root / "model", "must be an absolute path to the model file on the platform's host, got \"\(model)\"")
        }
        let splits = reader.int(body, "splits", at: .root, minimum: 1)
        let splitter = Self.readSplitter(body["splitter"], reader: &reader)
        var strategy = Strategy.even
        if let text = reader.string(body, "strategy", at: .root) {
            if let parsed = Strategy(rawValue: text) { strategy = parsed } else {
                reader.fail(.root / "strategy", "expected even or balanced, got \"\(text)\"")
            }
        }
        let targets = Self.readTargets(body, reader: &reader)
        let clusterId = reader.string(body, "clusterId", at: .root)
        let gpus = reader.int(body, "gpus", at: .root, minimum: 0) ?? (clusterId == nil ? 0 : 1)
        let runnerText = reader.string(body, "runner", at: .root) ?? Self.defaultRunner
        let runner = ComponentURI(runnerText)
        if runner == nil {
            reader.fail(.root / "runner", "expected a component URI type.name:version-releaseTag, got \"\(runnerText)\"")
        }
        let name = reader.string(body, "name", at: .root)
        let timeout = reader.number(body, "timeout_s", at: .root, minimum: 1) ?? Self.defaultTimeout
        if splits == nil && targets.isEmpty && body["splits"] == nil && !(strategy == .balanced && clusterId != nil) {
            reader.fail(.root / "splits", "required (or give target_nodes, or strategy balanced with clusterId: one split per node)")
        }
        if strategy == .balanced && targets.isEmpty && clusterId == nil && reader.isValid {
            reader.fail(.root / "strategy", "balanced sizes the splits to nodes: give target_nodes or clusterId")
        }
        try reader.check()
        guard let model, let splitter, let runner else { throw APIError.validation(reader.errors) }
        self.model = model
        self.splits = splits
        self.splitter = splitter
        self.strategy = strategy
        self.targetNodes = targets
        self.clusterId = clusterId
        self.gpus = gpus
        self.runner = runner
        self.name = name
        self.timeout = timeout
    }

    private static func readSplitter(_ value: JSONValue?, reader: inout FieldReader) -> Splitter? {
        switch value {
        case nil, .null?:
            return .builtIn("layer-range")
        case .string(let name)?:
            guard builtInSplitters.contains(name) else {
                reader.fail(.root / "splitter", "unknown splitter \"\(name)\"; built in: \(builtInSplitters.joined(separator: ", ")), or {\"command\": [...]} for a program on the split SDK")
                return nil
            }
            return .builtIn(name)
        case .object(let object)?:
            let path = FieldPath.root / "splitter"
            let command = reader.stringArray(object, "command", at: path, required: true)
            if let command, command.isEmpty { reader.fail(path / "command", "must name a program") }
            let cwd = reader.workingDirectory(object, at: path)
            let environment = reader.environment(object, at: path)
            guard let command, !command.isEmpty else { return nil }
            return .program(command: command, cwd: cwd, environment: environment)
        case let other?:
            reader.fail(.root / "splitter", "expected a built-in splitter's name or {\"command\": [...]}, got \(other.typeName)")
            return nil
        }
    }

    private static func readTargets(_ body: [String: JSONValue], reader: inout FieldReader) -> [TargetNode] {
        guard let entries = reader.array(body, "target_nodes", at: .root) else { return [] }
        var targets: [TargetNode] = []
        for (index, entry) in entries.enumerated() {
            let path = FieldPath.root / "target_nodes" / index
            guard let object = entry.objectValue else {
                reader.fail(path, "expected {\"nodeId\", \"freeMemoryMB\", \"clusterId\"?}, got \(entry.typeName)")
                continue
            }
            let clusterId = reader.string(object, "clusterId", at: path)
            let nodeId = reader.string(object, "nodeId", at: path, required: true)
            let free = reader.number(object, "freeMemoryMB", at: path, required: true, minimum: 0)
            if let nodeId, let free { targets.append(TargetNode(clusterId: clusterId, nodeId: nodeId, freeMemoryMB: free)) }
        }
        return targets
    }

    /// The splitter's `TASK_DATA`: the request with its defaults, and the target nodes it is sized for.
    public func taskData(targets: [TargetNode]) -> [String: JSONValue] {
        var data: [String: JSONValue] = [
            "model": .string(model), "strategy": .string(strategy.rawValue), "gpus": .number(Double(gpus)),
            "runner": .string(runner.description), "timeout_s": .number(timeout),
            "target_nodes": .array(targets.map(\.json)),
        ]
        data["splits"] = .number(Double(splits ?? targets.count))
        switch splitter {
        case .builtIn(let name): data["splitter"] = .string(name)
        case .program(let command, _, _): data["splitter"] = ["command": .array(command.map(JSONValue.string))]
        }
        if let clusterId { data["clusterId"] = .string(clusterId) }
        if let name { data["name"] = .string(name) }
        return data
    }
}
