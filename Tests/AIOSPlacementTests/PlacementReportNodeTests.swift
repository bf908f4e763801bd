import AIOSModel
import AIOSPlacement
import XCTest

/// The per-node part of the placement report: each plugin's verdict, the chosen node, and the cap.
final class PlacementReportNodeTests: XCTestCase {
    typealias F = PlacementFixtures

    func testThePlacedReportListsEachPluginsVerdictPerNode() throws {
        let clusters = [F.cluster("c", [
            F.node("busy", gpus: F.gpus(2, util: 95), labels: ["pool": "a"]),
            F.node("good", gpus: F.gpus(2), labels: ["pool": "a"]),
            F.node("other", gpus: F.gpus(2), labels: ["pool": "b"]),
            F.node("roomy", gpus: F.gpus(2, free: 40960), labels: ["pool": "a"]),
        ])]
        let outcome = F.place(ResourceRequest(gpus: 1, maxGPUUtilization: 0.9, minGPUFreeMemory: 1000, selectionMode: .greedy,
                                              nodeSelector: ["pool": "a"]), clusters)
        XCTAssertEqual(outcome.reservations.map(\.nodeId), ["good"], "greedy: the least GPU memory left")
        let chosen = try XCTUnwrap(outcome.report.clusters.first { $0.outcome == "chosen" })
        XCTAssertEqual(chosen.nodes.map(\.nodeId), ["good", "roomy", "busy", "other"], "chosen, then feasible best first, then rejected")
        XCTAssertEqual(chosen.nodes.map(\.outcome), ["chosen", "feasible", "rejected", "rejected"])

        let good = chosen.nodes[0]
        XCTAssertEqual(good.reasons, [])
        XCTAssertEqual(good.plugins?.map(\.plugin), ["gpu-model", "gpu-utilization", "gpu-memory",
                                                      "node-schedulable", "node-selector", "gpu-model", "metrics-fresh", "cpu", "memory", "gpu-count",
                                                      "gpu-nodes-for-gpu-work", "selection-mode"])
        XCTAssertEqual(good.plugins?.map(\.kind), ["gpu-filter", "gpu-filter", "gpu-filter"] + Array(repeating: "filter", count: 7) + ["scorer", "scorer"])
        XCTAssertEqual(good.plugins?.compactMap(\.verdict), Array(repeating: "passed", count: 10))
        XCTAssertEqual(good.plugins?.last?.score, 100)
        XCTAssertEqual(good.score, 100, "10 × 0 + 1 × 100")
        XCTAssertEqual(chosen.nodes[1].plugins?.last?.score, 0)

        let busy = chosen.nodes[2]
        XCTAssertNil(busy.score)
        XCTAssertEqual(busy.plugins?.first { $0.plugin == "gpu-utilization" }?.reasons,
                       ["GPU 0: utilisation 95 % ≥ 90 %", "GPU 1: utilisation 95 % ≥ 90 %"])
        XCTAssertEqual(busy.plugins?.first { $0.plugin == "gpu-count" }?.verdict, "rejected")
        XCTAssertFalse(busy.plugins?.contains { $0.kind == "scorer" } ?? true, "a rejected node is not scored")

        let other = chosen.nodes[3]
        XCTAssertEqual(other.reasons, ["label pool is \"b\", node_selector needs \"a\""])
        XCTAssertEqual(other.plugins?.filter { $0.kind == "filter" }.map(\.verdict),
                       ["passed", "rejected", "skipped", "skipped", "skipped", "skipped", "skipped"], "node_selector skips the rest")

        let json = outcome.report.json.jsonString()
        XCTAssertTrue(json.contains("\"plugins\""), json)
        XCTAssertEqual(try JSONValue(encoding: outcome.report), outcome.report.json)
    }

    func testAnUnplacedReportKeepsItsReasonsAndAddsTheVerdicts() throws {
        let silent = CapacitySnapshot.Node(id: "silent", vcpus: 8, memory: 1000, declaredGPUs: 0, live: nil)
        guard case .unplaced(let report) = F.place(ResourceRequest(cpus: 32), [F.cluster("c", [F.node("small", vcpus: 4), silent])]) else {
            return XCTFail("placed 32 CPUs on 4")
        }
        let nodes = try XCTUnwrap(report.clusters.first?.nodes)
        XCTAssertEqual(nodes.map(\.reasons), [["needs 32 CPUs, 4 free (4 total, 0 reserved)"],
                                              ["no metrics received from this node; it is not placed on until a collector reports (POST /api/nodeMetrics)"]])
        XCTAssertEqual(nodes[0].plugins?.map(\.plugin), ["node-schedulable", "node-selector", "gpu-model", "metrics-fresh", "cpu", "memory", "gpu-count"],
                       "no GPU filters for CPU work")
        XCTAssertEqual(nodes[0].plugins?.first { $0.plugin == "cpu" }?.verdict, "rejected")
        XCTAssertEqual(nodes[1].plugins?.map(\.verdict), ["passed", "passed", "passed", "rejected", "skipped", "skipped", "skipped"])
        XCTAssertTrue(report.lines.contains("    - needs 32 CPUs, 4 free (4 total, 0 reserved)"), report.lines.joined(separator: "\n"))
    }

    func testManyNodesAreCappedWithACount() throws {
        let nodes = (0..<30).map { F.node(String(format: "n%02d", $0), vcpus: $0 < 25 ? 1 : 2, age: $0 % 2 == 0 ? 99 : 1) }
        guard case .unplaced(let report) = F.place(ResourceRequest(cpus: 4), [F.cluster("c", nodes)]) else {
            return XCTFail("placed 4 CPUs on nodes of 2")
        }
        let listed = try XCTUnwrap(report.clusters.first?.nodes)
        XCTAssertEqual(listed.count, Placer.reportedNodes + 1)
        XCTAssertEqual(listed.last?.nodeId, "…")
        XCTAssertEqual(listed.last?.reasons, ["10 more nodes not listed: rejected by cpu ×5, metrics-fresh ×5"])
        XCTAssertNil(listed.last?.plugins)

        let placed = F.place(ResourceRequest(cpus: 1), [F.cluster("c", nodes)])
        let chosen = try XCTUnwrap(placed.report.clusters.first?.nodes)
        XCTAssertEqual(chosen.count, Placer.reportedNodes + 1)
        XCTAssertEqual(chosen.first?.outcome, "chosen")
        XCTAssertEqual(chosen.filter { $0.outcome == "feasible" }.count, 14, "the 15 fresh nodes come first")
        XCTAssertEqual(chosen.last?.reasons, ["10 more nodes not listed: rejected by metrics-fresh ×10"])
    }
}
