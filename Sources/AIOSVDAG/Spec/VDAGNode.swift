import AIOSModel

/// One node of a vDAG: `{"spec": {"values": {nodeLabel, nodeType, manualBlockId | assignmentPolicyRule,
/// preprocessingPolicyRule, postprocessingPolicyRule, modelParameters, inputProtocol, outputProtocol}},
/// "IOMap": [...]}`.
///
/// Only block nodes exist for now: `nodeType` `"block"`, `""` or absent. Nested vDAGs (`"vdag"`) are
/// refused rather than half-supported (AIOS drops their `vdagURI` and wires their edges to the wrong end).
public struct VDAGNode: Sendable, Equatable {
    /// The node types accepted (both mean a block).
    public static let blockTypes: Set<String> = ["block", ""]

    public var label: String
    public var assignment: VDAGAssignment
    public var preprocessing: VDAGProcessingRule?
    public var postprocessing: VDAGProcessingRule?
    /// Passed to the pre- and post-processing policies (AIOS: `settings.modelParameters`).
    public var modelParameters: [String: JSONValue]
    /// Field name → descriptor (`{"type": ..., "required": ...}`), like a component's `componentInputProtocol`.
    public var inputProtocol: [String: JSONValue]?
    public var outputProtocol: [String: JSONValue]?
    /// The union of the IOMap entries' inputs; empty when undeclared.
    public var inputNames: [String]
    /// The union of the IOMap entries' outputs; empty when undeclared.
    public var outputNames: [String]
    /// Where the node's `spec.values` sit in the submitted document.
    public var path: FieldPath

    public init(label: String, assignment: VDAGAssignment, preprocessing: VDAGProcessingRule? = nil,
                postprocessing: VDAGProcessingRule? = nil, modelParameters: [String: JSONValue] = [:],
                inputProtocol: [String: JSONValue]? = nil, outputProtocol: [String: JSONValue]? = nil,
                inputNames: [String] = [], outputNames: [String] = [], path: FieldPath = .root) {
        self.label = label
        self.assignment = assignment
        self.preprocessing = preprocessing
        self.postprocessing = postprocessing
        self.modelParameters = modelParameters
        self.inputProtocol = inputProtocol
        self.outputProtocol = outputProtocol
        self.inputNames = inputNames
        self.outputNames = outputNames
        self.path = path
    }

    /// Reads `nodes[index]` at `nodePath`. Returns the outline whenever the label could be read (so the
    /// graph can still be checked) and the node only when everything was valid; problems go to `reader`.
    static func read(_ element: JSONValue, index: Int, at nodePath: FieldPath,
                     reader: inout FieldReader) -> (outline: VDAGNodeOutline?, node: VDAGNode?) {
        guard let object = element.objectValue else {
            reader.fail(nodePath, "expected a node {\"spec\": {\"values\": {\"nodeLabel\": ...}}, \"IOMap\": [...]}, got \(element.typeName)")
            return (nil, nil)
        }
        let before = reader.errors.count
        let io = VDAGIOMap.read(object["IOMap"], at: nodePath / "IOMap", reader: &reader)
        guard let spec = reader.object(object, "spec", at: nodePath, required: true),
              let values = reader.object(spec, "values", at: nodePath / "spec", required: true) else { return (nil, nil) }
        let path = nodePath / "spec" / "values"

        let label = reader.string(values, "nodeLabel", at: path, required: true)
        if let type = reader.string(values, "nodeType", at: path), !blockTypes.contains(type) {
            if type == "vdag" {
                reader.fail(path / "nodeType", "nested vDAGs (nodeType \"vdag\") are not supported yet; use block nodes (nodeType \"block\")")
            } else {
                reader.fail(path / "nodeType", "unknown node type \"\(type)\"; expected \"block\" (or \"\")")
            }
        }
        let assignment = VDAGAssignment.read(values, at: path, reader: &reader)
        let preprocessing = VDAGProcessingRule.read(values, "preprocessingPolicyRule", at: path, reader: &reader)
        let postprocessing = VDAGProcessingRule.read(values, "postprocessingPolicyRule", at: path, reader: &reader)
        let modelParameters = reader.object(values, "modelParameters", at: path) ?? [:]
        let inputProtocol = reader.object(values, "inputProtocol", at: path)
        let outputProtocol = reader.object(values, "outputProtocol", at: path)

        let outline = label.map {
            VDAGNodeOutline(label: $0, index: index, inputNames: io.inputs, outputNames: io.outputs,
                            inputProtocol: inputProtocol, outputProtocol: outputProtocol)
        }
        guard reader.errors.count == before, let label, let assignment else { return (outline, nil) }
        let node = VDAGNode(
            label: label, assignment: assignment, preprocessing: preprocessing, postprocessing: postprocessing,
            modelParameters: modelParameters, inputProtocol: inputProtocol, outputProtocol: outputProtocol,
            inputNames: io.inputs, outputNames: io.outputs, path: path)
        return (outline, node)
    }
}
