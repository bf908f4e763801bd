import AIOSModel
import AIOSPlacement
import XCTest

/// The placer under a custom policy's guidance: a clusterAllocator's order, a resourceAllocator's node and
/// GPU choices, each checked against the filters and the ledger.
final class PolicyGuidanceTests: XCTestCase {
    typealias F = PlacementFixtures

    func place(_ request: PlacementRequest, _ clusters: [CapacitySnapshot.Cluster], reservations: [Reservation] = []) -> PlacementOutcome {
        var counter = 0
        return Placer.place(request, in: CapacitySnapshot(clusters: clusters, ttl: 30), reservations: reservations) {
            counter += 1
            return "i\(counter)"
        }
    }

    func request(gpus: Int, instances: Int = 1) -> PlacementRequest {
        PlacementRequest(blockId: "b", instances: instances, selection: ClusterSelection(), resources: ResourceRequest(gpus: gpus))
    }

    func testClusterOrderIsFollowedAndLimitsTheCandidates() {
        let big = F.cluster("big", [F.node("n", gpus: F.gpus(4))]), small = F.cluster("small", [F.node("n", gpus: F.gpus(1))])
        var guided = request(gpus: 1)
        guided.clusterOrder = ["small"]
        guard case .placed(let clusterId, _, let report) = place(guided, [big, small]) else { return XCTFail("not placed") }
        XCTAssertEqual(clusterId, "small", "the policy's choice beats the built-in ranking (most free GPU memory)")
        XCTAssertEqual(report.clusters.first { $0.clusterId == "big" }?.outcome, "not-selected")
        XCTAssertTrue(report.summary.contains("selected by the clusterAllocator policy"), report.summary)

        guided.clusterOrder = []
        guard case .unplaced(let none) = place(guided, [big, small]) else { return XCTFail("placed with no cluster selected") }
        XCTAssertTrue(none.summary.contains("selected none"), none.summary)
    }

    func testNodeChoicesAreTakenWhenTheyFit() {
        let clusters = [F.cluster("c", [F.node("n1", gpus: F.gpus(2)), F.node("n2", gpus: F.gpus(2))])]
        var guided = request(gpus: 1, instances: 2)
        guided.nodeChoices = NodeChoices(clusterId: "c", policy: "p", choices: [0: .init(node: "n2", gpus: ["1"]), 1: .init(node: "n2", gpus: ["0"])])
        guard case .placed(_, let placed, let report) = place(guided, clusters) else { return XCTFail("not placed") }
        XCTAssertEqual(placed.map(\.nodeId), ["n2", "n2"])
        XCTAssertEqual(placed.map(\.gpus), [["1"], ["0"]])
        XCTAssertNil(report.notes)
    }

    func testImpossibleChoicesFallBackToTheBuiltInAndAreNoted() {
        let clusters = [F.cluster("c", [F.node("n1", gpus: F.gpus(2)), F.node("n2", gpus: F.gpus(2))])]
        // GPU 0 of n1 is taken whole by another block; n9 does not exist; the third names one GPU twice.
        let taken = Reservation(blockId: "other", instanceId: "x", clusterId: "c", nodeId: "n1", gpus: ["0"], gpuMemory: 40960, cpus: 1, memory: 1)
        var guided = request(gpus: 1, instances: 3)
        guided.nodeChoices = NodeChoices(clusterId: "c", policy: "p", choices: [
            0: .init(node: "n1", gpus: ["0"]), 1: .init(node: "n9", gpus: ["0"]), 2: .init(node: "n2", gpus: ["0", "0"]),
        ])
        guard case .placed(_, let placed, let report) = place(guided, clusters, reservations: [taken]) else { return XCTFail("not placed") }
        XCTAssertFalse(placed.contains { $0.nodeId == "n1" && $0.gpus == ["0"] }, "a policy cannot reserve what is taken: \(placed)")
        let notes = report.notes ?? []
        XCTAssertEqual(notes.count, 3, "\(notes)")
        XCTAssertTrue(notes[0].contains("gpus: GPU 0"), notes[0])
        XCTAssertTrue(notes[1].contains("node_id \"n9\" is not a node of the cluster"), notes[1])
        XCTAssertTrue(notes[2].contains("must name 1 distinct GPU"), notes[2])
        XCTAssertTrue(notes.allSatisfy { $0.contains("the built-in chose node") })
    }

    func testChoicesForAnotherClusterAreIgnored() {
        let clusters = [F.cluster("c", [F.node("n1", gpus: F.gpus(1))])]
        var guided = request(gpus: 1)
        guided.nodeChoices = NodeChoices(clusterId: "elsewhere", policy: "p", choices: [0: .init(node: "zz", gpus: ["7"])])
        guard case .placed(_, let placed, let report) = place(guided, clusters) else { return XCTFail("not placed") }
        XCTAssertEqual(placed.first?.nodeId, "n1")
        XCTAssertNil(report.notes)
    }
}
