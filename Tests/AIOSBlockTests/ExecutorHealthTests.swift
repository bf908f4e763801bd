@testable import AIOSBlock
import XCTest

/// Instances that answer `Health` but report themselves unhealthy get no requests, and a block whose
/// instances all do fails requests at once with the reason instead of queueing them until the deadline.
final class ExecutorHealthTests: XCTestCase {
    private func executor() throws -> BlockExecutor {
        let executor = BlockExecutor(blockId: "chat", settings: ExecutorSettings())
        // Connections are lazy: nothing needs to listen for routing decisions.
        try executor.instanceReady("a", address: "127.0.0.1:9")
        try executor.instanceReady("b", address: "127.0.0.1:10")
        return executor
    }

    func testUnhealthyInstancesGetNoRequestsUntilTheyRecover() async throws {
        let executor = try executor()
        XCTAssertTrue(executor.setUnhealthy("a", reason: "Health answered \"unhealthy\": server down"))
        XCTAssertFalse(executor.setUnhealthy("a", reason: "again"), "no change, no news")
        for _ in 0..<10 {
            let connection = try await executor.acquire(session: "", excluding: [], deadline: .now + .seconds(1))
            XCTAssertEqual(connection.instanceId, "b")
            executor.release(connection.instanceId)
        }
        XCTAssertTrue(executor.setUnhealthy("a", reason: nil))
        var seen: Set<String> = []
        for _ in 0..<10 {
            let connection = try await executor.acquire(session: "", excluding: [], deadline: .now + .seconds(1))
            seen.insert(connection.instanceId)
            executor.release(connection.instanceId)
        }
        XCTAssertEqual(seen, ["a", "b"])
        executor.close(reason: InferenceError(.unavailable, "test over"))
    }

    func testABlockWhoseInstancesAllReportUnhealthyFailsAtOnceWithTheReason() async throws {
        let executor = try executor()
        executor.setUnhealthy("a", reason: "Health answered \"unhealthy\": server down")
        executor.setUnhealthy("b", reason: "Health answered \"unhealthy\": server down")
        let began = ContinuousClock.now
        do throws(InferenceError) {
            _ = try await executor.acquire(session: "s", excluding: [], deadline: .now + .seconds(30))
            XCTFail("no instance should be granted")
        } catch {
            XCTAssertEqual(error.code, .unavailable)
            XCTAssertTrue(error.message.contains("all 2 instances report unhealthy"), error.message)
            XCTAssertTrue(error.message.contains("server down"), error.message)
        }
        XCTAssertLessThan(began.duration(to: .now), .seconds(1))
        executor.close(reason: InferenceError(.unavailable, "test over"))
    }
}
