import AIOSModel
import AIOSVDAG
import XCTest

/// Specs that are accepted, and what they parse into.
final class VDAGSpecTests: XCTestCase {
    func testChainOfTwoNodes() throws {
        let spec = try VDAGDoc.parse(VDAGDoc.spec(
            nodes: [VDAGDoc.node("detector", block: "yolo-1", inputs: ["frame"], outputs: ["bboxes"]),
                    VDAGDoc.node("tracker", inputs: ["bboxes"], outputs: ["tracks"])],
            connections: [VDAGDoc.connection("tracker", ["detector"], outputNames: ["detector": ["bboxes"]])]))
        XCTAssertEqual(spec.uri.description, "pose-estimator:0.0.1-stable")
        XCTAssertEqual(spec.nodes.map(\.label), ["detector", "tracker"])
        XCTAssertEqual(spec.nodes[0].assignment, .manual(blockId: "yolo-1"))
        XCTAssertEqual(spec.nodes[0].inputNames, ["frame"])
        XCTAssertEqual(spec.nodes[0].outputNames, ["bboxes"])
        XCTAssertEqual(spec.nodes[1].path.description, "body.spec.values.nodes[1].spec.values")
        XCTAssertEqual(spec.graph, VDAGGraph(
            inputs: ["detector"], outputs: ["tracker"],
            parents: ["detector": [], "tracker": ["detector"]],
            children: ["detector": ["tracker"], "tracker": []],
            order: ["detector", "tracker"]))
        XCTAssertEqual(spec.valuesPath.description, "body.spec.values")
        XCTAssertEqual(spec.values["vdagName"], "pose-estimator")
    }

    func testDiamondKeepsParentsInConnectionOrder() throws {
        let spec = try VDAGDoc.parse(VDAGDoc.spec(
            nodes: [VDAGDoc.node("d"), VDAGDoc.node("c"), VDAGDoc.node("b"), VDAGDoc.node("a")],
            connections: [VDAGDoc.connection("b", ["a"]), VDAGDoc.connection("c", ["a"]), VDAGDoc.connection("d", ["c", "b"])]))
        XCTAssertEqual(spec.graph.inputs, ["a"])
        XCTAssertEqual(spec.graph.outputs, ["d"])
        XCTAssertEqual(spec.graph.parents["d"], ["c", "b"])
        XCTAssertEqual(spec.graph.children["a"], ["b", "c"])
        XCTAssertEqual(spec.graph.parents["a"], [])
        // Ties broken by spec order: c is listed before b.
        XCTAssertEqual(spec.graph.order, ["a", "c", "b", "d"])
    }

    func testParentsOfOneChildAddUpAcrossConnections() throws {
        let spec = try VDAGDoc.parse(VDAGDoc.spec(
            nodes: [VDAGDoc.node("a"), VDAGDoc.node("b"), VDAGDoc.node("c")],
            connections: [VDAGDoc.connection("c", ["b"]), VDAGDoc.connection("c", ["a"])]))
        XCTAssertEqual(spec.graph.parents["c"], ["b", "a"])
        XCTAssertEqual(spec.graph.inputs, ["a", "b"])
    }

    func testTwoOutputs() throws {
        let spec = try VDAGDoc.parse(VDAGDoc.spec(
            nodes: [VDAGDoc.node("src"), VDAGDoc.node("left"), VDAGDoc.node("right")],
            connections: [VDAGDoc.connection("left", ["src"]), VDAGDoc.connection("right", ["src"])]))
        XCTAssertEqual(spec.graph.inputs, ["src"])
        XCTAssertEqual(spec.graph.outputs, ["left", "right"])
        XCTAssertEqual(spec.graph.order, ["src", "left", "right"])
    }

    func testExplicitEndsWinOverDerivedOnes() throws {
        let spec = try VDAGDoc.parse(VDAGDoc.spec(
            nodes: [VDAGDoc.node("detector", inputs: ["frame"], outputs: ["bboxes"]),
                    VDAGDoc.node("tracker", inputs: ["bboxes"], outputs: ["tracks"])],
            connections: [VDAGDoc.connection("tracker", ["detector"])],
            graph: ["input": [["nodeLabel": "detector", "inputNames": ["frame"]]],
                    "output": [["nodeLabel": "tracker", "outputNames": ["tracks"]], ["nodeLabel": "detector"]]]))
        XCTAssertEqual(spec.graph.inputs, ["detector"])
        XCTAssertEqual(spec.graph.outputs, ["tracker", "detector"])
    }

    func testDocsSpellingOfEnds() throws {
        let spec = try VDAGDoc.parse(VDAGDoc.spec(
            nodes: [VDAGDoc.node("a"), VDAGDoc.node("b")],
            connections: [VDAGDoc.connection("b", ["a"])],
            graph: ["inputs": [["nodeLabel": "a"]], "outputs": ["b"]]))
        XCTAssertEqual(spec.graph.inputs, ["a"])
        XCTAssertEqual(spec.graph.outputs, ["b"])
    }

    func testSingleNodeWithoutConnections() throws {
        var values = VDAGDoc.spec(nodes: [VDAGDoc.node("only")], connections: [])
        values["graph"] = [:]
        let spec = try VDAGDoc.parse(values)
        XCTAssertEqual(spec.graph.inputs, ["only"])
        XCTAssertEqual(spec.graph.outputs, ["only"])
        XCTAssertEqual(spec.graph.order, ["only"])
    }

    func testDefaultsForVersionModeAndController() throws {
        var values = VDAGDoc.spec(nodes: [VDAGDoc.node("a")], connections: [])
        values.removeValue(forKey: "vdagVersion")
        let spec = try VDAGDoc.parse(values)
        XCTAssertEqual(spec.uri, VDAGURI(name: "pose-estimator", version: "0.0.1", releaseTag: "beta"))
        XCTAssertEqual(spec.mode, .create)
        XCTAssertTrue(spec.isStored)
        XCTAssertEqual(spec.discoveryTags, [])
        XCTAssertEqual(spec.controller, VDAGControllerSettings(maxOutputWaitSeconds: 30, quota: nil))
        // The stored document says which version it got.
        XCTAssertEqual(spec.values["vdagVersion"], ["version": "0.0.1", "release-tag": "beta"])
    }

    func testReleaseTagCamelCaseAndModes() throws {
        for (text, mode) in [("create", VDAGSpec.Mode.create), ("validateGraph", .validateGraph), ("dry-run", .dryRun),
                             ("dry_run", .dryRun), ("dryRun", .dryRun), ("dryRunAssignment", .dryRunAssignment)] {
            let spec = try VDAGDoc.parse(VDAGDoc.spec(
                nodes: [VDAGDoc.node("a")], connections: [],
                extra: ["mode": .string(text), "vdagVersion": ["version": "1.2.0-rc1", "releaseTag": "stable"],
                        "discoveryTags": ["pose", "video"]]))
            XCTAssertEqual(spec.mode, mode, text)
            XCTAssertEqual(spec.isStored, mode == .create, text)
            XCTAssertEqual(spec.uri.description, "pose-estimator:1.2.0-rc1-stable")
            XCTAssertEqual(spec.discoveryTags, ["pose", "video"])
        }
    }

    func testBareValuesNameBarePaths() throws {
        let spec = try VDAGSpec(envelope: SpecEnvelope(document: .object(VDAGDoc.spec(nodes: [VDAGDoc.node("a")], connections: []))))
        XCTAssertEqual(spec.valuesPath, .root)
        XCTAssertEqual(spec.nodes[0].path.description, "nodes[0].spec.values")
        do {
            _ = try VDAGSpec(envelope: SpecEnvelope(document: .object(VDAGDoc.spec(
                nodes: [VDAGDoc.node("a"), VDAGDoc.node("a")], connections: []))))
            XCTFail("expected a duplicate label error")
        } catch {
            XCTAssertEqual(error.fields.map(\.path), ["nodes[1].spec.values.nodeLabel"])
        }
    }

    func testFilterAssignmentAndNodeSections() throws {
        let spec = try VDAGDoc.parse(VDAGDoc.spec(
            nodes: [.object(["spec": ["values": [
                "nodeLabel": "detector", "nodeType": "",
                "assignmentPolicyRule": ["policyRuleURI": "policy.assignment.first-match:v1",
                                         "parameters": ["filter": ["metadata.task": "detection"], "top": 1]],
                "preprocessingPolicyRule": ["policyRuleURI": "policy.preprocessing.resize:v1", "parameters": ["size": 640]],
                "postprocessingPolicyRule": ["parameters": [:]],
                "modelParameters": ["threshold": 0.5],
                "inputProtocol": ["frame": ["type": "string"]],
                "outputProtocol": ["bboxes": ["type": "array"]],
            ]], "IOMap": [["inputs": [["name": "frame"]], "outputs": ["bboxes", ["name": "scores"]]], ["inputs": ["frame", "hint"]]]])],
            connections: []))
        let node = try XCTUnwrap(spec.node("detector"))
        XCTAssertEqual(node.assignment, .filter(
            policyURI: "policy.assignment.first-match:v1", filter: ["metadata.task": "detection"],
            parameters: ["filter": ["metadata.task": "detection"], "top": 1]))
        XCTAssertEqual(node.preprocessing, VDAGProcessingRule(policyURI: "policy.preprocessing.resize:v1", parameters: ["size": 640]))
        XCTAssertEqual(node.postprocessing, VDAGProcessingRule(policyURI: nil, parameters: [:]))
        XCTAssertEqual(node.modelParameters, ["threshold": 0.5])
        XCTAssertEqual(node.inputProtocol, ["frame": ["type": "string"]])
        XCTAssertEqual(node.outputProtocol, ["bboxes": ["type": "array"]])
        XCTAssertEqual(node.inputNames, ["frame", "hint"])
        XCTAssertEqual(node.outputNames, ["bboxes", "scores"])
    }

    func testMatchingProtocolsAreAccepted() throws {
        let spec = try VDAGDoc.parse(VDAGDoc.spec(
            nodes: [VDAGDoc.node("a", extra: ["outputProtocol": ["boxes": ["type": "array"], "count": ["type": "integer"], "extra": ["type": "string"]]]),
                    VDAGDoc.node("b", extra: ["inputProtocol": ["boxes": ["type": "array", "required": true],
                                                                "count": ["type": "number"], "note": ["type": "any"]]])],
            connections: [VDAGDoc.connection("b", ["a"])]))
        XCTAssertEqual(spec.graph.order, ["a", "b"])
    }

    func testProtocolsAreNotCheckedForMultiParentChildren() throws {
        _ = try VDAGDoc.parse(VDAGDoc.spec(
            nodes: [VDAGDoc.node("a", extra: ["outputProtocol": ["x": ["type": "string"]]]),
                    VDAGDoc.node("b", extra: ["outputProtocol": ["y": ["type": "string"]]]),
                    VDAGDoc.node("c", extra: ["inputProtocol": ["x": ["type": "string"], "y": ["type": "string"]]])],
            connections: [VDAGDoc.connection("c", ["a", "b"])]))
    }
}
