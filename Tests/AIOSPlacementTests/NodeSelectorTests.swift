import AIOSModel
import AIOSPlacement
import AIOSPolicy
import XCTest

/// `node_selector`, `gpu_model` and `gpu_models` in the `resourceAllocator` parameters: parsing, errors,
/// and what the placer does with them.
final class NodeSelectorTests: XCTestCase {
    typealias F = PlacementFixtures

    func rule(_ parameters: [String: JSONValue]) -> PolicyRule {
        PolicyRule(kind: .resourceAllocator, uri: nil, parameters: parameters, settings: [:], location: FieldPath(dotted: "p"))
    }

    func errorPaths(_ parameters: [String: JSONValue], file: StaticString = #filePath, line: UInt = #line) -> [String: String] {
        do {
            _ = try ResourceRequest(rule: rule(parameters))
            XCTFail("accepted \(parameters)", file: file, line: line)
            return [:]
        } catch {
            return Dictionary(error.fields.map { ("\($0.path)", $0.message) }, uniquingKeysWith: { a, _ in a })
        }
    }

    func testSelectorsAreRead() throws {
        let request = try ResourceRequest(rule: rule([
            "gpus": 2, "node_selector": ["zone": "eu-west", "tier": "gold"], "gpu_model": "H100", "gpu_models": ["H200", "H100"],
        ]))
        XCTAssertEqual(request.nodeSelector, ["zone": "eu-west", "tier": "gold"])
        XCTAssertEqual(request.gpuModels, ["H100", "H200"], "gpu_model and gpu_models merged, each once")
        XCTAssertEqual(request.parameters["gpus"], 2, "the raw parameters are kept for plugins of one's own")
        let plain = try ResourceRequest(rule: rule(["gpus": 1, "node_selector": .null]))
        XCTAssertEqual(plain.nodeSelector, [:])
        XCTAssertEqual(plain.gpuModels, [])
    }

    func testBadSelectorTypesNameTheField() {
        XCTAssertEqual(errorPaths(["node_selector": "zone=eu"])["p.parameters.node_selector"], "expected an object, got string")
        let label = errorPaths(["node_selector": ["zone": "eu", "gpu": true, "rack": 7]])
        XCTAssertEqual(Set(label.keys), ["p.parameters.node_selector.gpu", "p.parameters.node_selector.rack"])
        XCTAssertTrue(label["p.parameters.node_selector.rack"]?.contains("node labels are strings") ?? false, "\(label)")
        let models = errorPaths(["gpu_model": 100, "gpu_models": ["H100", 3]])
        XCTAssertEqual(Set(models.keys), ["p.parameters.gpu_model", "p.parameters.gpu_models[1]"], "\(models)")
        XCTAssertEqual(errorPaths(["gpu_models": ["H100", " - "]])["p.parameters.gpu_models[1]"], "must name a GPU model (such as \"H100\"), got \" - \"")
        XCTAssertEqual(Set(errorPaths(["gpu_models": "H100"]).keys), ["p.parameters.gpu_models"])
        XCTAssertEqual(Set(errorPaths(["gpu_models": [], "gpu_model": ""]).keys), ["p.parameters.gpu_models", "p.parameters.gpu_model"])
        // Selector errors come with the others in one reply.
        XCTAssertEqual(Set(errorPaths(["gpus": -1, "node_selector": ["a": 1]]).keys), ["p.parameters.gpus", "p.parameters.node_selector.a"])
    }

    func testNodeSelectorPicksTheMatchingNode() {
        let clusters = [F.cluster("c", [
            F.node("a", gpus: F.gpus(2), labels: ["zone": "us-east", "tier": "gold"]),
            F.node("b", gpus: F.gpus(2), labels: ["zone": "eu-west", "tier": "gold"]),
            F.node("c", gpus: F.gpus(2)),
        ])]
        XCTAssertEqual(F.place(ResourceRequest(gpus: 1, nodeSelector: ["zone": "eu-west"]), instances: 2, clusters).reservations.map(\.nodeId),
                       ["b", "b"])
        XCTAssertEqual(F.place(ResourceRequest(gpus: 1, nodeSelector: ["tier": "gold"]), instances: 2, clusters).reservations.map(\.nodeId).sorted(),
                       ["a", "b"], "balanced spreads over the matching nodes only")
        let outcome = F.place(ResourceRequest(gpus: 1, nodeSelector: ["zone": "ap-south"]), clusters)
        guard case .unplaced(let report) = outcome else { return XCTFail("placed on a node without the label") }
        let text = report.lines.joined(separator: "\n")
        XCTAssertTrue(text.contains("label zone is \"us-east\", node_selector needs \"ap-south\""), text)
        XCTAssertTrue(text.contains("no label zone, node_selector needs zone=\"ap-south\""), text)
    }

    func testOnlyGPUsOfTheWantedModelCount() {
        let mixed = F.node("mixed", gpus: F.gpus(2, model: "NVIDIA A100-SXM4-80GB") + F.gpus(2, model: "NVIDIA H100 80GB HBM3", firstId: 2))
        let clusters = [F.cluster("c", [mixed, F.node("a100s", gpus: F.gpus(4, model: "NVIDIA A100-SXM4-80GB"))])]
        let two = F.place(ResourceRequest(gpus: 2, gpuModels: ["H100"]), clusters).reservations
        XCTAssertEqual(two.map(\.nodeId), ["mixed"])
        XCTAssertEqual(two.first?.gpus, ["2", "3"])
        guard case .unplaced(let report) = F.place(ResourceRequest(gpus: 3, gpuModels: ["H100"]), clusters) else {
            return XCTFail("counted A100s towards an H100 request")
        }
        let text = report.lines.joined(separator: "\n")
        XCTAssertTrue(text.contains("2 of 4 GPUs qualify, needs 3: GPU 0: model NVIDIA A100-SXM4-80GB, needs H100"), text)
        XCTAssertTrue(text.contains("no GPU of model H100; it has NVIDIA A100-SXM4-80GB ×4"), text)
        let either = F.place(ResourceRequest(gpus: 4, gpuModels: ["A100", "H100"]), clusters).reservations
        XCTAssertEqual(either.first?.gpus.count, 4, "gpu_models: any listed model counts")
    }

    func testLabelsAndModelsComeFromTheClusterDocumentWhenTheNodeLacksThem() {
        let document: JSONValue = ["id": "c", "nodes": ["nodeData": [
            ["id": "a", "labels": ["pool": "inference"], "gpus": ["gpus": [["modelName": "NVIDIA L4", "memory": 24000]]]],
            ["id": "b", "labels": ["pool": "training"],
             "gpus": ["gpus": [["gpu_id": "1", "modelName": "NVIDIA H100 80GB HBM3"], ["gpu_id": "0", "modelName": "NVIDIA A100 80GB"]]]],
        ]]]
        let cluster = F.cluster("c", [F.node("a", gpus: F.gpus(1)), F.node("b", gpus: F.gpus(2))], document: document)
        XCTAssertEqual(cluster.nodes.map(\.labels), [["pool": "inference"], ["pool": "training"]])
        XCTAssertEqual(cluster.nodes[1].gpuModels, ["NVIDIA H100 80GB HBM3", "NVIDIA A100 80GB"])
        XCTAssertEqual(cluster.nodes[1].live?.gpus.map(\.modelName), ["NVIDIA A100 80GB", "NVIDIA H100 80GB HBM3"], "matched by gpu_id")
        XCTAssertEqual(F.place(ResourceRequest(nodeSelector: ["pool": "training"]), [cluster]).reservations.map(\.nodeId), ["b"])
        XCTAssertEqual(F.place(ResourceRequest(gpus: 1, gpuModels: ["H100"]), [cluster]).reservations.first?.gpus, ["1"])
        XCTAssertEqual(F.place(ResourceRequest(gpus: 1, gpuModels: ["L4"]), [cluster]).reservations.map(\.nodeId), ["a"])
    }
}
