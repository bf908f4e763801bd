import AIOSKubernetes
import AIOSModel
import AIOSRuntime
import XCTest

/// Pod phases and container states as instance states.
final class PodStatusTests: XCTestCase {
    func pod(_ status: JSONValue) -> JSONValue { ["metadata": ["name": "p"], "status": status] }

    func observe(_ status: JSONValue) -> PodStatus.Observation { PodStatus.observe(pod(status), port: 50051) }

    func testPendingIsStartingUntilAWaitWorthTelling() {
        XCTAssertEqual(observe(["phase": "Pending"]).state, .starting)
        XCTAssertEqual(observe(["phase": "Pending", "containerStatuses": [["state": ["waiting": ["reason": "ContainerCreating"]]]]]).state, .starting)
        XCTAssertEqual(observe(["phase": "Pending", "containerStatuses": [["state": ["waiting": ["reason": "ImagePullBackOff", "message": "Back-off pulling image \"nope:1\""]]]]]).state,
                       .waiting(reason: "ImagePullBackOff: Back-off pulling image \"nope:1\""))
        XCTAssertEqual(observe(["phase": "Pending", "containerStatuses": [["state": ["waiting": ["reason": "ErrImagePull"]]]]]).state, .waiting(reason: "ErrImagePull"))
    }

    func testRunningWithAnIPServesThere() {
        XCTAssertEqual(observe(["phase": "Running", "podIP": "10.1.2.3"]).state, .running(address: "10.1.2.3:50051"))
        XCTAssertEqual(observe(["phase": "Running", "podIP": "fd00::5"]).state, .running(address: "[fd00::5]:50051"))
        XCTAssertEqual(observe(["phase": "Running"]).state, .starting, "no address yet")
        XCTAssertEqual(observe(["phase": "Running", "podIP": "10.1.2.3", "containerStatuses": [["state": ["waiting": ["reason": "CrashLoopBackOff", "message": "back-off 40s"]]]]]).state,
                       .waiting(reason: "CrashLoopBackOff: back-off 40s"))
    }

    func testEndings() {
        XCTAssertEqual(observe(["phase": "Succeeded"]).state, .exited(status: 0))
        let oom = observe(["phase": "Failed", "containerStatuses": [["state": ["terminated": ["exitCode": 137, "reason": "OOMKilled"]]]]])
        XCTAssertEqual(oom.state, .exited(status: 137))
        XCTAssertEqual(oom.note, "container terminated with exit code 137 (OOMKilled)")
        let evicted = observe(["phase": "Failed", "reason": "Evicted", "message": "The node was low on resource: memory."])
        XCTAssertEqual(evicted.state, .lost(reason: "pod failed (Evicted: The node was low on resource: memory.)"))
        let rejected = observe(["phase": "Failed", "reason": "OutOfnvidia.com/gpu", "message": "Node didn't have enough resource"])
        XCTAssertEqual(rejected.state, .lost(reason: "pod failed (OutOfnvidia.com/gpu: Node didn't have enough resource)"))
        XCTAssertTrue(observe(["phase": "Unknown"]).state.isFinal, "a pod whose node stopped reporting is lost")
        let drained = PodStatus.observe(["metadata": ["name": "p", "deletionTimestamp": "2026-12-06T10:00:00Z"],
                                         "status": ["phase": "Succeeded"]], port: 1)
        XCTAssertEqual(drained.state, .lost(reason: "pod was deleted or evicted (deleted)"), "not an exit that counts towards a crash loop")
        let preempted = observe(["phase": "Failed", "conditions": [["type": "DisruptionTarget", "status": "True", "reason": "PreemptionByScheduler", "message": "preempted"]],
                                 "containerStatuses": [["state": ["terminated": ["exitCode": 143]]]]])
        XCTAssertEqual(preempted.state, .lost(reason: "pod was deleted or evicted (PreemptionByScheduler: preempted)"))
    }
}
