import AIOSPlacement
import XCTest

/// The built-in scorers on hand-made candidates, and how their weights combine in the placer.
final class BuiltInScorerTests: XCTestCase {
    typealias F = PlacementFixtures

    func testCPUWorkScoresNodesWithoutGPUsBest() {
        let scorer = GPUNodesForGPUWorkScorer()
        let nodes = [NodeCandidate(node: F.node("gpu", gpus: F.gpus(1))), NodeCandidate(node: F.node("cpu"))]
        XCTAssertEqual(scorer.scores(nodes, request: ResourceRequest(), state: F.state()), [0, 100])
        XCTAssertEqual(scorer.scores(nodes, request: ResourceRequest(gpus: 1), state: F.state()), [0, 0], "no preference for GPU work")
        XCTAssertGreaterThan(scorer.weight, SelectionModeScorer().weight * 1, "outweighs selection-mode whole")
    }

    func testSelectionModeRanksByModeWithEqualNodesSharingARank() {
        let scorer = SelectionModeScorer()
        // CPU work: capacity left is free CPUs less the request.
        let nodes = [
            NodeCandidate(node: F.node("a", vcpus: 8), blockInstances: 1),
            NodeCandidate(node: F.node("b", vcpus: 16), blockInstances: 0),
            NodeCandidate(node: F.node("c", vcpus: 16), blockInstances: 0),
            NodeCandidate(node: F.node("d", vcpus: 4, load: 0.1), blockInstances: 0),
        ]
        XCTAssertEqual(scorer.scores(nodes, request: ResourceRequest(cpus: 1, selectionMode: .balanced), state: F.state()), [0, 100, 100, 50],
                       "fewest instances, then most CPUs left; b and c tie")
        XCTAssertEqual(scorer.scores(nodes, request: ResourceRequest(cpus: 1, selectionMode: .greedy), state: F.state()), [100, 0, 0, 50],
                       "most instances, then fewest CPUs left")
        XCTAssertEqual(scorer.scores(nodes, request: ResourceRequest(cpus: 1, selectionMode: .lightestLoad), state: F.state()), [0, 50, 50, 100],
                       "lowest load first (d); then most CPUs left (b and c before a)")
        XCTAssertEqual(scorer.scores([nodes[0]], request: ResourceRequest(), state: F.state()), [100], "a lone node is the best")
    }

    func testAHeavierCustomScorerOverridesTheBuiltInOrder() {
        struct Prefer: NodeScorer {
            let name = "prefer"
            let weight = 100.0
            let nodeId: String
            func scores(_ nodes: [NodeCandidate], request: ResourceRequest, state: PlacementState) -> [Double] {
                nodes.map { $0.id == nodeId ? 100 : 0 }
            }
        }
        let clusters = [F.cluster("c", [F.node("cpu"), F.node("gpu", gpus: F.gpus(2))])]
        XCTAssertEqual(F.place(ResourceRequest(cpus: 1), clusters).reservations.map(\.nodeId), ["cpu"])
        var plugins = PlacementPlugins.builtIn
        plugins.scorers.append(Prefer(nodeId: "gpu"))
        XCTAssertEqual(F.place(ResourceRequest(cpus: 1), clusters, plugins: plugins).reservations.map(\.nodeId), ["gpu"])
    }
}
