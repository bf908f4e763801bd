import AIOSModel

/// Reads `graph{connections, input|inputs, output|outputs}` and checks it against the nodes, reporting
/// every problem at the path where it was written.
///
/// Rules beyond "labels must exist":
/// - A connection names its child (`nodeLabel`) and at least one parent (`inputs[].nodeLabel`). Several
///   connections may name the same child; their parents add up in order. A node may not be its own parent,
///   and a parent may be named once per child.
/// - `inputs[].outputNames` must be among the parent's IOMap outputs when the parent declares any;
///   `graph.input[].inputNames` and `graph.output[].outputNames` likewise against the node's IOMap.
/// - `graph.input` and `graph.inputs` (the docs' spelling) mean the same; giving both is an error. An empty
///   list counts as not given: the ends are then derived (nodes without parents / without children).
/// - A listed input node must have no parents: it takes the request, not another node's output.
/// - A node with no children must be an output when outputs are listed: otherwise its results are dropped.
/// - A cycle is one error at `graph.connections` naming it in edge order.
/// - No input node / no output node is an error at `graph`; a node that no input reaches is an error at its
///   `nodeLabel`. These whole-graph checks run only when every node label and edge could be read, so a typo
///   in one connection is not echoed as "unreachable" elsewhere.
/// - Protocols must fit along single-parent edges (see ``VDAGProtocolCheck``).
struct VDAGGraphReader {
    /// Nodes with readable, unique labels, in spec order.
    let nodes: [VDAGNodeOutline]
    /// Whether every submitted node is among ``nodes``.
    let allNodesKnown: Bool
    /// Where `nodes` sits, to point at a node's label.
    let nodesPath: FieldPath
    private let byLabel: [String: VDAGNodeOutline]

    init(nodes: [VDAGNodeOutline], allNodesKnown: Bool, nodesPath: FieldPath) {
        self.nodes = nodes
        self.allNodesKnown = allNodesKnown
        self.nodesPath = nodesPath
        self.byLabel = Dictionary(nodes.map { ($0.label, $0) }, uniquingKeysWith: { first, _ in first })
    }

    private struct Edge: Hashable {
        var parent: String
        var child: String
    }

    private struct End {
        var label: String
        var path: FieldPath
    }

    /// The checked graph, or `nil` when something was wrong (reported to `reader`).
    func read(_ graph: [String: JSONValue], at path: FieldPath, reader: inout FieldReader) -> VDAGGraph? {
        let before = reader.errors.count
        let labels = nodes.map(\.label)
        var parents = Dictionary(uniqueKeysWithValues: labels.map { ($0, [String]()) })
        var children = parents
        var edgePaths: [Edge: FieldPath] = [:]
        var edges: [(edge: Edge, path: FieldPath)] = []

        // Edges.
        let edgesBefore = reader.errors.count
        for (index, connection) in (reader.array(graph, "connections", at: path) ?? []).enumerated() {
            let connectionPath = path / "connections" / index
            guard let object = connection.objectValue else {
                reader.fail(connectionPath, "expected a connection {\"nodeLabel\": ..., \"inputs\": [{\"nodeLabel\": ...}]}, got \(connection.typeName)")
                continue
            }
            var child = reader.string(object, "nodeLabel", at: connectionPath, required: true)
            if let label = child, byLabel[label] == nil {
                reader.fail(connectionPath / "nodeLabel", unknownLabel(label))
                child = nil
            }
            guard let inputs = reader.array(object, "inputs", at: connectionPath, required: true) else { continue }
            if inputs.isEmpty {
                reader.fail(connectionPath / "inputs", "must name at least one parent node")
            }
            for (inputIndex, input) in inputs.enumerated() {
                let inputPath = connectionPath / "inputs" / inputIndex
                guard let inputObject = input.objectValue else {
                    reader.fail(inputPath, "expected {\"nodeLabel\": ..., \"outputNames\": [...]}, got \(input.typeName)")
                    continue
                }
                let outputNames = VDAGNameList.read(inputObject["outputNames"], at: inputPath / "outputNames", reader: &reader)
                guard let parent = reader.string(inputObject, "nodeLabel", at: inputPath, required: true) else { continue }
                guard let parentNode = byLabel[parent] else {
                    reader.fail(inputPath / "nodeLabel", unknownLabel(parent))
                    continue
                }
                guard let child else { continue }
                if parent == child {
                    reader.fail(inputPath / "nodeLabel", "\"\(child)\" cannot be its own parent (a self-edge)")
                    continue
                }
                let edge = Edge(parent: parent, child: child)
                if let first = edgePaths[edge] {
                    reader.fail(inputPath / "nodeLabel", "\"\(parent)\" is already a parent of \"\(child)\" (at \(first)); name each parent once")
                    continue
                }
                if let outputNames, !parentNode.outputNames.isEmpty {
                    let unknown = outputNames.filter { !parentNode.outputNames.contains($0) }
                    if !unknown.isEmpty {
                        reader.fail(inputPath / "outputNames", "\"\(parent)\" does not declare output \(VDAGNameList.text(unknown)) in its IOMap; it declares: \(VDAGNameList.text(parentNode.outputNames))")
                    }
                }
                edgePaths[edge] = inputPath
                edges.append((edge, inputPath))
                parents[child, default: []].append(parent)
                children[parent, default: []].append(child)
            }
        }
        let edgesComplete = reader.errors.count == edgesBefore

        // Ends as written.
        let endsBefore = reader.errors.count
        let listedInputs = readEnds(graph, keys: ["input", "inputs"], namesKey: "inputNames", kind: "input", at: path, reader: &reader)
        let listedOutputs = readEnds(graph, keys: ["output", "outputs"], namesKey: "outputNames", kind: "output", at: path, reader: &reader)
        let endsComplete = reader.errors.count == endsBefore

        // Order and cycles.
        let order = VDAGGraph.topologicalOrder(labels: labels, parents: parents, children: children)
        if order.count < labels.count,
           let cycle = VDAGGraph.findCycle(labels: labels, children: children, ordered: Set(order)) {
            reader.fail(path / "connections", "the graph has a cycle: \(cycle.joined(separator: " → "))")
        }

        // Ends as used.
        for end in listedInputs ?? [] {
            if let nodeParents = parents[end.label], !nodeParents.isEmpty {
                reader.fail(end.path, "\"\(end.label)\" is a graph input but has parent \(nodeParents.joined(separator: ", ")) in graph.connections; an input node takes the request, not another node's output")
            }
        }
        let inputs = listedInputs.map { $0.map(\.label) } ?? labels.filter { parents[$0]?.isEmpty ?? true }
        let outputs = listedOutputs.map { $0.map(\.label) } ?? labels.filter { children[$0]?.isEmpty ?? true }

        if edgesComplete && endsComplete && allNodesKnown {
            if inputs.isEmpty {
                reader.fail(path, "no input node: every node has a parent, so no node can take the request")
            }
            if outputs.isEmpty {
                reader.fail(path, "no output node: every node has a child, so no node's result can be returned")
            }
            if !inputs.isEmpty {
                let reached = VDAGGraph.reachable(from: inputs, children: children)
                for node in nodes where !reached.contains(node.label) {
                    reader.fail(labelPath(node), "node \"\(node.label)\" is not reachable from any input node (\(inputs.joined(separator: ", "))); connect it, list it as an input, or remove it")
                }
            }
            if listedOutputs != nil {
                for node in nodes where (children[node.label]?.isEmpty ?? true) && !outputs.contains(node.label) {
                    reader.fail(labelPath(node), "node \"\(node.label)\" has no children and is not a graph output; its results would be dropped (list it in graph.output)")
                }
            }
        }

        // Protocols along single-parent edges.
        for (edge, edgePath) in edges where parents[edge.child]?.count == 1 {
            guard let parentNode = byLabel[edge.parent], let childNode = byLabel[edge.child] else { continue }
            for problem in VDAGProtocolCheck.problems(parent: parentNode, child: childNode) {
                reader.fail(edgePath, problem)
            }
        }

        guard reader.errors.count == before else { return nil }
        return VDAGGraph(inputs: inputs, outputs: outputs, parents: parents, children: children, order: order)
    }

    /// Reads `graph.input`/`graph.inputs` (or the output pair): entries `{nodeLabel, inputNames}` or bare
    /// labels. `nil` when not given or empty (derive the ends instead).
    private func readEnds(_ graph: [String: JSONValue], keys: [String], namesKey: String, kind: String,
                          at path: FieldPath, reader: inout FieldReader) -> [End]? {
        let given = keys.filter { !(graph[$0]?.isNull ?? true) }
        guard let key = given.first else { return nil }
        for other in given.dropFirst() {
            reader.fail(path / other, "graph.\(key) is given too; give one of \(keys.joined(separator: " or "))")
        }
        guard let entries = reader.array(graph, key, at: path), !entries.isEmpty else { return nil }
        var ends: [End] = []
        for (index, entry) in entries.enumerated() {
            let entryPath = path / key / index
            let label: String?
            let labelPath: FieldPath
            var names: [String]?
            if let text = entry.stringValue {
                label = text.isEmpty ? nil : text
                labelPath = entryPath
                if text.isEmpty { reader.fail(entryPath, "must not be empty") }
            } else if let object = entry.objectValue {
                label = reader.string(object, "nodeLabel", at: entryPath, required: true)
                labelPath = entryPath / "nodeLabel"
                names = VDAGNameList.read(object[namesKey], at: entryPath / namesKey, reader: &reader)
            } else {
                reader.fail(entryPath, "expected {\"nodeLabel\": ..., \"\(namesKey)\": [...]} or a node label, got \(entry.typeName)")
                continue
            }
            guard let label else { continue }
            guard let node = byLabel[label] else {
                reader.fail(labelPath, unknownLabel(label))
                continue
            }
            if let first = ends.first(where: { $0.label == label }) {
                reader.fail(labelPath, "\"\(label)\" is already listed at \(first.path)")
                continue
            }
            let declared = kind == "input" ? node.inputNames : node.outputNames
            if let names, !declared.isEmpty {
                let unknown = names.filter { !declared.contains($0) }
                if !unknown.isEmpty {
                    reader.fail(entryPath / namesKey, "\"\(label)\" does not declare \(kind) \(VDAGNameList.text(unknown)) in its IOMap; it declares: \(VDAGNameList.text(declared))")
                }
            }
            ends.append(End(label: label, path: labelPath))
        }
        return ends
    }

    private func unknownLabel(_ label: String) -> String {
        "no node labelled \"\(label)\"; labels: \(VDAGNameList.text(nodes.map(\.label)))"
    }

    private func labelPath(_ node: VDAGNodeOutline) -> FieldPath {
        nodesPath / node.index / "spec" / "values" / "nodeLabel"
    }
}
