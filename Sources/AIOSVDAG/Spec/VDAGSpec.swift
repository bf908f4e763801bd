import AIOSModel

/// A validated vDAG spec (`POST /api/createvDAG`, AIOS `body.spec.values`): a named, versioned graph of
/// block nodes with controller settings.
///
/// Fields: `vdagName`, `vdagVersion{version, release-tag|releaseTag}` (default `0.0.1`/`beta`, as AIOS),
/// `mode`, `discoveryTags`, `controller`, `nodes[{spec{values{...}}, IOMap}]` and `graph`. Unlike AIOS,
/// which checks nothing structural, every problem (unknown labels, cycles, unreachable nodes, undeclared
/// outputs, protocol mismatches) is reported up front, all at once, each at the path it was written.
public struct VDAGSpec: Sendable, Equatable {
    /// AIOS's default `vdagVersion`.
    public static let defaultVersion = "0.0.1"
    public static let defaultReleaseTag = "beta"

    public var uri: VDAGURI
    public var mode: Mode
    public var discoveryTags: [String]
    public var controller: VDAGControllerSettings
    /// The nodes in spec order.
    public var nodes: [VDAGNode]
    public var graph: VDAGGraph
    /// The submitted values, with `vdagVersion` filled in when it was absent: the stored vDAG document.
    public var values: [String: JSONValue]
    /// Where `values` sat in the submitted document.
    public var valuesPath: FieldPath

    /// Whether the spec is kept (`create`); the other modes only validate or try the assignment.
    public var isStored: Bool { mode == .create }

    /// The node labelled `label`.
    public func node(_ label: String) -> VDAGNode? {
        nodes.first { $0.label == label }
    }

    public init(envelope: SpecEnvelope) throws(APIError) {
        let path = envelope.valuesPath
        var values = envelope.values
        var reader = FieldReader()

        let uri = Self.readURI(&values, at: path, reader: &reader)

        var mode = Mode.create
        if let text = reader.string(values, "mode", at: path) {
            if let given = Mode(spelling: text) {
                mode = given
            } else {
                reader.fail(path / "mode", "unknown mode \"\(text)\"; expected one of \(Mode.spellings.joined(separator: ", "))")
            }
        }
        let discoveryTags = reader.stringArray(values, "discoveryTags", at: path) ?? []
        let controller = VDAGControllerSettings.read(values, at: path, reader: &reader)

        // Nodes: each read on its own; labels must be unique.
        var nodes: [VDAGNode] = []
        var outlines: [VDAGNodeOutline] = []
        var submittedNodes = 0
        let nodesPath = path / "nodes"
        if let elements = reader.array(values, "nodes", at: path, required: true) {
            submittedNodes = elements.count
            if elements.isEmpty { reader.fail(nodesPath, "must hold at least one node") }
            for (index, element) in elements.enumerated() {
                let (outline, node) = VDAGNode.read(element, index: index, at: nodesPath / index, reader: &reader)
                guard let outline else { continue }
                if let first = outlines.first(where: { $0.label == outline.label }) {
                    reader.fail(nodesPath / index / "spec" / "values" / "nodeLabel",
                                "duplicate node label \"\(outline.label)\"; nodes[\(first.index)] already uses it")
                    continue
                }
                outlines.append(outline)
                if let node { nodes.append(node) }
            }
        }

        var graph: VDAGGraph?
        if let graphObject = reader.object(values, "graph", at: path, required: true) {
            let graphReader = VDAGGraphReader(nodes: outlines, allNodesKnown: outlines.count == submittedNodes, nodesPath: nodesPath)
            graph = graphReader.read(graphObject, at: path / "graph", reader: &reader)
        }

        try reader.check()
        guard let uri, let controller, let graph, nodes.count == submittedNodes else { throw APIError.validation(reader.errors) }
        self.uri = uri
        self.mode = mode
        self.discoveryTags = discoveryTags
        self.controller = controller
        self.nodes = nodes
        self.graph = graph
        self.values = values
        self.valuesPath = path
    }

    /// Reads `vdagName` and `vdagVersion` into the URI. An absent `vdagVersion` becomes AIOS's default and is
    /// written into `values`, so the stored document says which version it is.
    private static func readURI(_ values: inout [String: JSONValue], at path: FieldPath, reader: inout FieldReader) -> VDAGURI? {
        let name = reader.string(values, "vdagName", at: path, required: true)
        var version = defaultVersion
        var releaseTag = defaultReleaseTag
        var tagPath = path / "vdagVersion" / "release-tag"
        let versionPath = path / "vdagVersion"

        if let versionObject = reader.object(values, "vdagVersion", at: path) {
            let given = reader.string(versionObject, "version", at: versionPath, required: true)
            let tagKeys = ["release-tag", "releaseTag"].filter { !(versionObject[$0]?.isNull ?? true) }
            var tag: String?
            if let key = tagKeys.first {
                tagPath = versionPath / key
                tag = reader.string(versionObject, key, at: versionPath, required: true)
                for other in tagKeys.dropFirst() {
                    reader.fail(versionPath / other, "\(key) is given too; give one of release-tag or releaseTag")
                }
            } else {
                reader.fail(tagPath, "required")
            }
            guard let given, let tag else { return nil }
            version = given
            releaseTag = tag
        } else if values["vdagVersion"]?.isNull ?? true {
            values["vdagVersion"] = .object(["version": .string(version), "release-tag": .string(releaseTag)])
        } else {
            return nil  // not an object: reported by the reader
        }

        guard let name else { return nil }
        let candidate = VDAGURI(name: name, version: version, releaseTag: releaseTag)
        let problems = candidate.problems
        for problem in problems {
            switch problem.part {
            case "name": reader.fail(path / "vdagName", problem.message)
            case "version": reader.fail(versionPath / "version", problem.message)
            default: reader.fail(tagPath, problem.message)
            }
        }
        return problems.isEmpty ? candidate : nil
    }
}
