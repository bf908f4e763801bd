import AIOSModel
import AIOSPlacement
import XCTest

/// Nodes of a Kubernetes cluster: not placed on when their cluster says they cannot take work, and placed on their
/// allocatable capacity, said so in the report, when no collector reports them.
final class DiscoveredNodeTests: XCTestCase {
    typealias F = PlacementFixtures

    func testANodeThatCannotTakeWorkIsRejectedWithItsReason() {
        var notReady = F.node("n1", gpus: F.gpus(2))
        notReady.schedulingProblem = "node is NotReady (KubeletNotReady)"
        let outcome = F.place(ResourceRequest(gpus: 1), [F.cluster("c", [notReady, F.node("n2", gpus: F.gpus(2))])])
        XCTAssertEqual(outcome.reservations.map(\.nodeId), ["n2"])
        let alone = F.place(ResourceRequest(gpus: 1), [F.cluster("c", [notReady])])
        XCTAssertTrue(alone.reservations.isEmpty)
        XCTAssertTrue(alone.report.lines.contains { $0.contains("node is NotReady (KubeletNotReady)") }, alone.report.lines.joined(separator: "\n"))
    }

    func testPlacingOnAllocatableCapacityIsSaidInTheSummary() {
        var estimated = F.node("k1", gpus: F.gpus(2))
        estimated.live?.fromAllocatable = true
        let outcome = F.place(ResourceRequest(gpus: 1), [F.cluster("c", [estimated])])
        XCTAssertEqual(outcome.reservations.map(\.nodeId), ["k1"])
        XCTAssertTrue(outcome.report.summary.contains("no live metrics from node k1: placed on allocatable capacity minus reservations"), outcome.report.summary)
        XCTAssertTrue(outcome.report.summary.contains("device plugin picks the GPUs"), outcome.report.summary)
        let measured = F.place(ResourceRequest(gpus: 1), [F.cluster("c", [F.node("m1", gpus: F.gpus(2))])])
        XCTAssertFalse(measured.report.summary.contains("allocatable"), measured.report.summary)
    }
}
