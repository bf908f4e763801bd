import AIOSModel
import AIOSVDAG
import XCTest

/// Refused specs: each problem at the path the user wrote, all in one reply.
final class VDAGSpecValidationTests: XCTestCase {
    private let chain = [VDAGDoc.node("a"), VDAGDoc.node("b"), VDAGDoc.node("c")]

    func testCycleIsOneErrorNamingTheCycle() {
        let errors = VDAGDoc.errors(VDAGDoc.spec(
            nodes: [VDAGDoc.node("src"), VDAGDoc.node("c"), VDAGDoc.node("a"), VDAGDoc.node("b"), VDAGDoc.node("sink")],
            connections: [VDAGDoc.connection("a", ["src", "c"]), VDAGDoc.connection("b", ["a"]), VDAGDoc.connection("c", ["b"]),
                          VDAGDoc.connection("sink", ["b"])]))
        // The cycle starts at its node listed first (c), in edge order.
        XCTAssertEqual(errors, [FieldError(path: "body.spec.values.graph.connections", message: "the graph has a cycle: c → a → b → c")])
    }

    func testWholeGraphCycleAlsoHasNoInputNode() {
        let errors = VDAGDoc.errors(VDAGDoc.spec(
            nodes: [VDAGDoc.node("x"), VDAGDoc.node("y")],
            connections: [VDAGDoc.connection("y", ["x"]), VDAGDoc.connection("x", ["y"])]))
        assertError(errors, at: "graph.connections", contains: "cycle: x → y → x")
        assertError(errors, at: "graph", contains: "no input node")
        assertError(errors, at: "graph", contains: "no output node")
        XCTAssertEqual(errors.count, 3, "\(errors)")
    }

    func testUnknownLabelsNameTheLabels() {
        let errors = VDAGDoc.errors(VDAGDoc.spec(
            nodes: chain,
            connections: [VDAGDoc.connection("b", ["a"]), VDAGDoc.connection("c", ["b", "bb"]), VDAGDoc.connection("dd", ["c"])],
            graph: ["output": [["nodeLabel": "zz"]]]))
        assertError(errors, at: "graph.connections[1].inputs[1].nodeLabel", contains: "no node labelled \"bb\"; labels: a, b, c")
        assertError(errors, at: "graph.connections[2].nodeLabel", contains: "no node labelled \"dd\"; labels: a, b, c")
        assertError(errors, at: "graph.output[0].nodeLabel", contains: "no node labelled \"zz\"")
        // The whole-graph checks stay quiet when edges could not be read.
        XCTAssertEqual(errors.count, 3, "\(errors)")
    }

    func testDuplicateLabelNamesTheFirstIndex() {
        let errors = VDAGDoc.errors(VDAGDoc.spec(
            nodes: [VDAGDoc.node("a"), VDAGDoc.node("b"), VDAGDoc.node("a")],
            connections: [VDAGDoc.connection("b", ["a"])]))
        XCTAssertEqual(errors.map(\.path), ["body.spec.values.nodes[2].spec.values.nodeLabel"])
        assertError(errors, at: "nodes[2].spec.values.nodeLabel", contains: "duplicate node label \"a\"", "nodes[0]")
    }

    func testBadIOMap() {
        var bad = VDAGDoc.node("b").objectValue ?? [:]
        bad["IOMap"] = [["inputs": "frame"], 3, ["outputs": [1, ["name": ""]]]]
        var notArray = VDAGDoc.node("c").objectValue ?? [:]
        notArray["IOMap"] = ["inputs": ["x"]]
        let errors = VDAGDoc.errors(VDAGDoc.spec(
            nodes: [VDAGDoc.node("a"), .object(bad), .object(notArray)],
            connections: [VDAGDoc.connection("b", ["a"]), VDAGDoc.connection("c", ["b"], outputNames: ["b": ["anything"]])]))
        assertError(errors, at: "nodes[1].IOMap[0].inputs", contains: "expected an array of names, got string")
        assertError(errors, at: "nodes[1].IOMap[1]", contains: "expected an object")
        assertError(errors, at: "nodes[1].IOMap[2].outputs[0]", contains: "expected a non-empty name")
        assertError(errors, at: "nodes[1].IOMap[2].outputs[1]", contains: "expected a non-empty name")
        assertError(errors, at: "nodes[2].IOMap", contains: "expected an array")
        // A bad IOMap declares nothing, so the edge's outputNames are not also reported.
        XCTAssertEqual(errors.count, 5, "\(errors)")
    }

    func testUnknownOutputNames() {
        let errors = VDAGDoc.errors(VDAGDoc.spec(
            nodes: [VDAGDoc.node("detector", outputs: ["bboxes", "scores"]), VDAGDoc.node("tracker", inputs: ["bboxes"])],
            connections: [VDAGDoc.connection("tracker", ["detector"], outputNames: ["detector": ["boxes", "bboxes", "masks"]])],
            graph: ["input": [["nodeLabel": "detector", "inputNames": ["frame"]]],
                    "output": [["nodeLabel": "tracker", "outputNames": ["tracks"]]]]))
        assertError(errors, at: "graph.connections[0].inputs[0].outputNames",
                    contains: "\"detector\" does not declare output boxes, masks", "declares: bboxes, scores")
        // detector declares no inputs and tracker no outputs: nothing to check those ends against.
        XCTAssertEqual(errors.count, 1, "\(errors)")

        let endErrors = VDAGDoc.errors(VDAGDoc.spec(
            nodes: [VDAGDoc.node("detector", inputs: ["frame"], outputs: ["bboxes"])], connections: [],
            graph: ["input": [["nodeLabel": "detector", "inputNames": ["image"]]],
                    "output": [["nodeLabel": "detector", "outputNames": ["tracks"]]]]))
        assertError(endErrors, at: "graph.input[0].inputNames", contains: "does not declare input image", "declares: frame")
        assertError(endErrors, at: "graph.output[0].outputNames", contains: "does not declare output tracks", "declares: bboxes")
    }

    func testProtocolMismatch() {
        let errors = VDAGDoc.errors(VDAGDoc.spec(
            nodes: [VDAGDoc.node("detector", extra: ["outputProtocol": ["bboxes": ["type": "object"], "scores": ["type": "array"]]]),
                    VDAGDoc.node("tracker", extra: ["inputProtocol": ["bboxes": ["type": "array", "required": true],
                                                                      "frame_id": ["type": "integer", "required": true],
                                                                      "scores": ["type": "array"]]])],
            connections: [VDAGDoc.connection("tracker", ["detector"])]))
        assertError(errors, at: "graph.connections[0].inputs[0]",
                    contains: "\"tracker\"'s inputProtocol requires field \"frame_id\"", "\"detector\"'s outputProtocol does not declare")
        assertError(errors, at: "graph.connections[0].inputs[0]",
                    contains: "field \"bboxes\" is object in \"detector\"'s outputProtocol but \"tracker\"'s inputProtocol expects array")
        XCTAssertEqual(errors.count, 2, "\(errors)")
    }

    func testProtocolWithoutRequiredMarksNeedsEveryField() {
        let errors = VDAGDoc.errors(VDAGDoc.spec(
            nodes: [VDAGDoc.node("a", extra: ["outputProtocol": ["x": ["type": "string"]]]),
                    VDAGDoc.node("b", extra: ["inputProtocol": ["x": ["type": "string"], "y": ["type": "string"]]])],
            connections: [VDAGDoc.connection("b", ["a"])]))
        XCTAssertEqual(errors.map(\.path), ["body.spec.values.graph.connections[0].inputs[0]"])
        assertError(errors, at: "graph.connections[0].inputs[0]", contains: "requires field \"y\"")
    }

    func testMissingAssignment() {
        let errors = VDAGDoc.errors(VDAGDoc.spec(
            nodes: [VDAGDoc.node("a"), .object(["spec": ["values": ["nodeLabel": "b"]]])],
            connections: [VDAGDoc.connection("b", ["a"])]))
        XCTAssertEqual(errors.map(\.path), ["body.spec.values.nodes[1].spec.values"])
        assertError(errors, at: "nodes[1].spec.values", contains: "manualBlockId", "assignmentPolicyRule")
    }

    func testBothAssignments() {
        let errors = VDAGDoc.errors(VDAGDoc.spec(
            nodes: [VDAGDoc.node("a", extra: ["assignmentPolicyRule": ["parameters": ["filter": [:]]]])],
            connections: []))
        XCTAssertEqual(errors.map(\.path), ["body.spec.values.nodes[0].spec.values"])
        assertError(errors, at: "nodes[0].spec.values", contains: "either manualBlockId or assignmentPolicyRule, not both")
    }

    func testFilterMustBeAnObject() {
        let errors = VDAGDoc.errors(VDAGDoc.spec(
            nodes: [.object(["spec": ["values": ["nodeLabel": "a", "assignmentPolicyRule": ["parameters": ["filter": "gpu"]]]]]),
                    .object(["spec": ["values": ["nodeLabel": "b", "assignmentPolicyRule": ["policyRuleURI": "p"]]]]),
                    VDAGDoc.node("c", block: "Not_A_Block")],
            connections: [VDAGDoc.connection("b", ["a"]), VDAGDoc.connection("c", ["b"])]))
        assertError(errors, at: "nodes[0].spec.values.assignmentPolicyRule.parameters.filter", contains: "expected an object, got string")
        assertError(errors, at: "nodes[1].spec.values.assignmentPolicyRule.parameters", contains: "required")
        assertError(errors, at: "nodes[2].spec.values.manualBlockId", contains: "not a block id")
        XCTAssertEqual(errors.count, 3, "\(errors)")
    }

    func testNestedVDAGRefused() {
        let errors = VDAGDoc.errors(VDAGDoc.spec(
            nodes: [VDAGDoc.node("a"), VDAGDoc.node("sub", extra: ["nodeType": "vdag", "vdagURI": "other:1-a"]),
                    VDAGDoc.node("alg", extra: ["nodeType": "algorithm"])],
            connections: [VDAGDoc.connection("sub", ["a"]), VDAGDoc.connection("alg", ["sub"])]))
        assertError(errors, at: "nodes[1].spec.values.nodeType", contains: "nested vDAGs", "not supported yet")
        assertError(errors, at: "nodes[2].spec.values.nodeType", contains: "unknown node type \"algorithm\"")
        XCTAssertEqual(errors.count, 2, "\(errors)")
    }

    func testNoInputNodeWhenEveryNodeHasAParent() {
        let errors = VDAGDoc.errors(VDAGDoc.spec(
            nodes: chain,
            connections: [VDAGDoc.connection("a", ["c"]), VDAGDoc.connection("b", ["a"]), VDAGDoc.connection("c", ["b"])]))
        assertError(errors, at: "graph", contains: "no input node")
        assertError(errors, at: "graph.connections", contains: "cycle: a → b → c → a")
    }

    func testListedInputWithAParentAndUnreachableNodes() {
        let errors = VDAGDoc.errors(VDAGDoc.spec(
            nodes: [VDAGDoc.node("a"), VDAGDoc.node("b"), VDAGDoc.node("island"), VDAGDoc.node("c")],
            connections: [VDAGDoc.connection("b", ["a"]), VDAGDoc.connection("c", ["island"])],
            graph: ["input": [["nodeLabel": "a"], ["nodeLabel": "b"]]]))
        assertError(errors, at: "graph.input[1].nodeLabel", contains: "\"b\" is a graph input but has parent a")
        assertError(errors, at: "nodes[2].spec.values.nodeLabel", contains: "\"island\" is not reachable from any input node (a, b)")
        assertError(errors, at: "nodes[3].spec.values.nodeLabel", contains: "\"c\" is not reachable")
        XCTAssertEqual(errors.count, 3, "\(errors)")
    }

    func testLeafThatIsNotAListedOutput() {
        let errors = VDAGDoc.errors(VDAGDoc.spec(
            nodes: chain, connections: [VDAGDoc.connection("b", ["a"]), VDAGDoc.connection("c", ["a"])],
            graph: ["outputs": [["nodeLabel": "b"]]]))
        XCTAssertEqual(errors.map(\.path), ["body.spec.values.nodes[2].spec.values.nodeLabel"])
        assertError(errors, at: "nodes[2].spec.values.nodeLabel", contains: "\"c\" has no children and is not a graph output")
    }

    func testSelfEdgeAndRepeatedParent() {
        let errors = VDAGDoc.errors(VDAGDoc.spec(
            nodes: chain,
            connections: [VDAGDoc.connection("b", ["a", "b"]), VDAGDoc.connection("c", ["b", "b"]), VDAGDoc.connection("c", ["a", "b"])]))
        assertError(errors, at: "graph.connections[0].inputs[1].nodeLabel", contains: "own parent")
        assertError(errors, at: "graph.connections[1].inputs[1].nodeLabel",
                    contains: "\"b\" is already a parent of \"c\" (at body.spec.values.graph.connections[1].inputs[0])")
        assertError(errors, at: "graph.connections[2].inputs[1].nodeLabel", contains: "already a parent")
        XCTAssertEqual(errors.count, 3, "\(errors)")
    }

    func testDocumentLevelProblemsAllAtOnce() {
        let errors = VDAGDoc.errors([
            "vdagName": "pose:estimator",
            "vdagVersion": ["version": "1:0", "release-tag": "stable", "releaseTag": "beta"],
            "mode": "launch",
            "discoveryTags": ["ok", 3],
            "nodes": [],
        ])
        assertError(errors, at: "vdagName", contains: "\":\" is not allowed")
        assertError(errors, at: "vdagVersion.version", contains: "\":\" is not allowed")
        assertError(errors, at: "vdagVersion.releaseTag", contains: "give one of release-tag or releaseTag")
        assertError(errors, at: "mode", contains: "unknown mode \"launch\"", "dry-run")
        assertError(errors, at: "discoveryTags[1]", contains: "expected a string")
        assertError(errors, at: "nodes", contains: "at least one node")
        assertError(errors, at: "graph", contains: "required")
        XCTAssertEqual(errors.count, 7, "\(errors)")
    }

    func testMissingNameNodesAndBadNodeShapes() {
        let errors = VDAGDoc.errors([
            "vdagVersion": ["version": "1", "release-tag": "bad-tag"],
            "nodes": [3, ["spec": [:]], ["spec": ["values": ["nodeLabel": ""]]]],
            "graph": ["connections": "none"],
        ])
        assertError(errors, at: "vdagName", contains: "required")
        assertError(errors, at: "nodes[0]", contains: "expected a node")
        assertError(errors, at: "nodes[1].spec.values", contains: "required")
        assertError(errors, at: "nodes[2].spec.values.nodeLabel", contains: "must not be empty")
        assertError(errors, at: "graph.connections", contains: "expected an array")
    }

    func testBadReleaseTagIsReportedWhereWritten() {
        let errors = VDAGDoc.errors(VDAGDoc.spec(nodes: [VDAGDoc.node("a")], connections: [],
                                                 extra: ["vdagVersion": ["version": "1", "releaseTag": "bad-tag"]]))
        XCTAssertEqual(errors.map(\.path), ["body.spec.values.vdagVersion.releaseTag"])
        assertError(errors, at: "vdagVersion.releaseTag", contains: "no '-'")
    }

    func testMalformedConnections() {
        let errors = VDAGDoc.errors(VDAGDoc.spec(
            nodes: chain,
            connections: ["b", ["nodeLabel": "b"], ["nodeLabel": "c", "inputs": []], ["nodeLabel": "c", "inputs": ["a"]]]))
        assertError(errors, at: "graph.connections[0]", contains: "expected a connection")
        assertError(errors, at: "graph.connections[1].inputs", contains: "required")
        assertError(errors, at: "graph.connections[2].inputs", contains: "at least one parent")
        assertError(errors, at: "graph.connections[3].inputs[0]", contains: "expected {\"nodeLabel\"")
        XCTAssertEqual(errors.count, 4, "\(errors)")
    }
}
