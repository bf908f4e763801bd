@testable import AIOSBlock
import AIOSModel
import AIOSWire
import Synchronization
import XCTest

/// The executor's routing under scripted instances: in-flight limits, the bounded queue, deadlines,
/// cancellation, retries on another instance, draining and instances leaving while requests run.
final class ExecutorQueueTests: XCTestCase {
    private var transport: ScriptedTransport!

    override func setUp() {
        transport = ScriptedTransport()
    }

    private func executor(_ instances: [String], maxInFlight: Int = 128, maxQueued: Int = 1024) throws -> BlockExecutor {
        let settings = ExecutorSettings(maxInFlightPerInstance: maxInFlight, maxQueued: maxQueued)
        let executor = BlockExecutor(blockId: "chat", settings: settings, transport: transport)
        for (index, id) in instances.enumerated() {
            try executor.instanceReady(id, address: "127.0.0.1:\(9000 + index)")
        }
        return executor
    }

    /// Starts a request; its task answers with the id of the instance that served it.
    private func send(_ executor: BlockExecutor, session: String = "", timeout: Duration = .seconds(30)) -> Task<String, any Error> {
        Task {
            var packet = AIOSPacket()
            packet.sessionID = session
            let outputs = try await executor.infer(packet, deadline: .now + timeout)
            return outputs.first?.data ?? ""
        }
    }

    private func failure(_ task: Task<String, any Error>) async -> InferenceError? {
        do {
            let served = try await task.value
            XCTFail("expected a failure, got an answer from \(served)")
            return nil
        } catch {
            guard let error = error as? InferenceError else {
                XCTFail("expected an InferenceError, got \(error)")
                return nil
            }
            return error
        }
    }

    private func queued(_ executor: BlockExecutor) -> Int { executor.metrics().block.queued }
    private func inFlight(_ executor: BlockExecutor) -> Int { executor.metrics().block.inFlight }

    // MARK: Routing and limits

    func testRequestsGoOverTheTransportRoundRobin() async throws {
        let executor = try executor(["a", "b"])
        var served: [String] = []
        for _ in 0..<4 { served.append(try await send(executor).value) }
        XCTAssertEqual(served.sorted(), ["a", "a", "b", "b"])
        XCTAssertEqual(transport.instance("a").calls, 2)
        XCTAssertEqual(transport.instance("b").calls, 2)
        XCTAssertEqual(inFlight(executor), 0, "every slot is given back")
    }

    func testNoInstanceEverHasMoreThanItsLimitInFlight() async throws {
        let executor = try executor(["a", "b"], maxInFlight: 2)
        transport.instance("a").behaviour = .hold
        transport.instance("b").behaviour = .hold
        let requests = (0..<10).map { _ in send(executor) }
        await eventually("4 run and 6 queue") {
            queued(executor) == 6 && transport.instance("a").inFlight == 2 && transport.instance("b").inFlight == 2
        }
        transport.instance("a").open()
        transport.instance("b").open()
        var served: [String] = []
        for request in requests { served.append(try await request.value) }
        XCTAssertEqual(served.count, 10)
        XCTAssertLessThanOrEqual(transport.instance("a").maxInFlight, 2)
        XCTAssertLessThanOrEqual(transport.instance("b").maxInFlight, 2)
        XCTAssertEqual(transport.instance("a").calls + transport.instance("b").calls, 10)
        XCTAssertEqual(queued(executor), 0)
        XCTAssertEqual(inFlight(executor), 0)
    }

    func testAFullQueueAnswersResourceExhaustedAtOnce() async throws {
        let executor = try executor(["a"], maxInFlight: 1, maxQueued: 2)
        transport.instance("a").behaviour = .hold
        let running = send(executor)
        let waiting = [send(executor), send(executor)]
        await eventually("one runs, two queue") { inFlight(executor) == 1 && queued(executor) == 2 }
        let began = ContinuousClock.now
        let refused = await failure(send(executor))
        XCTAssertEqual(refused?.code, .resourceExhausted)
        XCTAssertTrue(refused?.message.contains("at capacity") == true, refused?.message ?? "")
        XCTAssertLessThan(began.duration(to: .now), .seconds(2), "a full queue refuses, it does not wait")
        transport.instance("a").open()
        let runningServedBy = try await running.value
        XCTAssertEqual(runningServedBy, "a")
        for request in waiting {
            let served = try await request.value
            XCTAssertEqual(served, "a")
        }
        XCTAssertEqual(transport.instance("a").calls, 3, "the refused request never reached the instance")
    }

    // MARK: Deadlines

    func testAQueuedRequestPastItsDeadlineLeavesTheQueue() async throws {
        let executor = try executor(["a"], maxInFlight: 1)
        transport.instance("a").behaviour = .hold
        let running = send(executor)
        await eventually("one runs") { inFlight(executor) == 1 }
        let began = ContinuousClock.now
        let late = await failure(send(executor, timeout: .milliseconds(200)))
        XCTAssertEqual(late?.code, .deadlineExceeded)
        XCTAssertTrue(late?.message.contains("waited for a free instance") == true, late?.message ?? "")
        XCTAssertLessThan(began.duration(to: .now), .seconds(5))
        XCTAssertEqual(queued(executor), 0, "an expired request gives up its place")
        transport.instance("a").open()
        let runningServedBy = try await running.value
        XCTAssertEqual(runningServedBy, "a")
        XCTAssertEqual(transport.instance("a").calls, 1)
    }

    func testAnInstanceThatDoesNotAnswerInTimeFailsTheRequestAndFreesItsSlot() async throws {
        let executor = try executor(["a"], maxInFlight: 1)
        transport.instance("a").behaviour = .hold
        let slow = await failure(send(executor, timeout: .milliseconds(200)))
        XCTAssertEqual(slow?.code, .deadlineExceeded)
        XCTAssertEqual(inFlight(executor), 0)
        transport.instance("a").behaviour = .answer
        let servedAfterwards = try await send(executor).value
        XCTAssertEqual(servedAfterwards, "a", "the slot the slow request held is free again")
        XCTAssertEqual(executor.metrics().block.totalErrors, 1)
    }

    // MARK: Cancellation

    func testACancelledQueuedRequestGivesUpItsPlaceInTheQueue() async throws {
        let executor = try executor(["a"], maxInFlight: 1, maxQueued: 1)
        transport.instance("a").behaviour = .hold
        let running = send(executor)
        await eventually("one runs") { inFlight(executor) == 1 }
        let abandoned = send(executor)
        await eventually("one queues") { queued(executor) == 1 }
        abandoned.cancel()
        let abandonedCode = await failure(abandoned)?.code
        XCTAssertEqual(abandonedCode, .cancelled)
        XCTAssertEqual(queued(executor), 0)
        let next = send(executor)
        await eventually("the next request takes the freed place") { queued(executor) == 1 }
        transport.instance("a").open()
        let runningServedBy = try await running.value
        XCTAssertEqual(runningServedBy, "a")
        let nextServedBy = try await next.value
        XCTAssertEqual(nextServedBy, "a")
        XCTAssertEqual(transport.instance("a").calls, 2, "the cancelled request never reached the instance")
    }

    func testACancelledRunningRequestFreesItsSlot() async throws {
        let executor = try executor(["a"], maxInFlight: 1)
        transport.instance("a").behaviour = .hold
        let abandoned = send(executor)
        await eventually("it runs") { transport.instance("a").inFlight == 1 }
        let waiting = send(executor)
        await eventually("the next one queues") { queued(executor) == 1 }
        abandoned.cancel()
        let abandonedCode = await failure(abandoned)?.code
        XCTAssertEqual(abandonedCode, .cancelled)
        // The freed slot goes to the queued request, which now runs on the instance.
        await eventually("the queued request runs") { transport.instance("a").inFlight == 1 && queued(executor) == 0 }
        transport.instance("a").open()
        let waitingServedBy = try await waiting.value
        XCTAssertEqual(waitingServedBy, "a")
        XCTAssertEqual(inFlight(executor), 0)
    }

    // MARK: Retries

    func testARequestAnInstanceRefusesIsRetriedOnAnother() async throws {
        let executor = try executor(["a", "b"])
        transport.instance("a").behaviour = .refuse
        var served: [String] = []
        for _ in 0..<4 { served.append(try await send(executor).value) }
        XCTAssertEqual(served, ["b", "b", "b", "b"])
        XCTAssertEqual(transport.instance("a").calls, 1, "a refusing instance is skipped while suspect")
        XCTAssertEqual(executor.metrics().retried, 1)
    }

    func testARefusedRequestWithNoOtherInstanceSaysSo() async throws {
        let executor = try executor(["a"])
        transport.instance("a").behaviour = .refuse
        let error = await failure(send(executor))
        XCTAssertEqual(error?.code, .unavailable)
        XCTAssertTrue(error?.message.contains("no other instance of block chat is healthy to retry on") == true, error?.message ?? "")
        XCTAssertEqual(transport.instance("a").calls, 1, "one try per instance")
    }

    func testAnErrorTheInstanceAnsweredWithIsNotRetried() async throws {
        let executor = try executor(["a", "b"])
        transport.instance("a").behaviour = .fail(.invalidArgument)
        transport.instance("b").behaviour = .fail(.invalidArgument)
        let error = await failure(send(executor))
        XCTAssertEqual(error?.code, .invalidArgument)
        XCTAssertEqual(transport.instance("a").calls + transport.instance("b").calls, 1, "the instance answered: no retry")
        XCTAssertEqual(executor.metrics().retried, 0)
    }

    func testAStreamIsNotRetriedOnceItsFirstOutputWasHandedOn() async throws {
        let executor = try executor(["a", "b"])
        transport.instance("a").behaviour = .streamThenDrop
        transport.instance("b").behaviour = .streamThenDrop
        let received = Received()
        do throws(InferenceError) {
            try await executor.inferStream(AIOSPacket(), deadline: .now + .seconds(5)) { outputs in
                received.append(outputs.map(\.data))
            }
            XCTFail("the dropped stream must fail")
        } catch {
            XCTAssertEqual(error.code, .unavailable)
        }
        XCTAssertEqual(received.values.count, 1, "one output, then the error; no second stream from another instance")
        XCTAssertEqual(transport.instance("a").calls + transport.instance("b").calls, 1)
    }

    // MARK: Draining and leaving

    func testDrainSendsNewRequestsElsewhereAndReturnsWhenTheLastOneInFlightFinishes() async throws {
        let executor = try executor(["a", "b"])
        transport.instance("a").behaviour = .hold
        transport.instance("b").behaviour = .hold
        let first = [send(executor), send(executor)]
        await eventually("one runs on each") { transport.instance("a").inFlight == 1 && transport.instance("b").inFlight == 1 }
        let drained = Task { await executor.drain("a", timeout: .seconds(60)) }
        transport.instance("b").behaviour = .answer
        for _ in 0..<4 {
            let servedBy = try await send(executor).value
            XCTAssertEqual(servedBy, "b", "a draining instance takes no new requests")
        }
        XCTAssertEqual(transport.instance("a").calls, 1)
        let began = ContinuousClock.now
        transport.instance("a").open()
        let left = await drained.value
        XCTAssertEqual(left, 0)
        XCTAssertLessThan(began.duration(to: .now), .seconds(5), "drain returns when the request finishes, not at its timeout")
        transport.instance("b").open()
        for request in first { _ = try await request.value }
    }

    func testDrainGivesUpAtItsTimeoutWithWhatIsStillInFlight() async throws {
        let executor = try executor(["a"])
        transport.instance("a").behaviour = .hold
        let running = send(executor)
        await eventually("it runs") { inFlight(executor) == 1 }
        let began = ContinuousClock.now
        let left = await executor.drain("a", timeout: .milliseconds(200))
        XCTAssertEqual(left, 1)
        XCTAssertGreaterThanOrEqual(began.duration(to: .now), .milliseconds(200))
        transport.instance("a").open()
        let runningServedBy = try await running.value
        XCTAssertEqual(runningServedBy, "a", "the request in flight still finishes")
    }

    func testACancelledDrainReturnsAtOnce() async throws {
        let executor = try executor(["a"])
        transport.instance("a").behaviour = .hold
        let running = send(executor)
        await eventually("it runs") { inFlight(executor) == 1 }
        let began = ContinuousClock.now
        let drain = Task { await executor.drain("a", timeout: .seconds(60)) }
        try await Task.sleep(for: .milliseconds(50))
        drain.cancel()
        let drainLeft = await drain.value
        XCTAssertEqual(drainLeft, 1)
        XCTAssertLessThan(began.duration(to: .now), .seconds(5))
        transport.instance("a").open()
        _ = try await running.value
    }

    func testAnInstanceThatLeavesWhileBusyFinishesItsRequestsAndItsQueueMovesOn() async throws {
        let executor = try executor(["a", "b"], maxInFlight: 1)
        transport.instance("a").behaviour = .hold
        transport.instance("b").behaviour = .hold
        let running = [send(executor), send(executor)]
        await eventually("one runs on each") { transport.instance("a").inFlight == 1 && transport.instance("b").inFlight == 1 }
        let waiting = (0..<2).map { _ in send(executor) }
        await eventually("two queue") { queued(executor) == 2 }
        let drain = Task { await executor.drain("a", timeout: .seconds(60)) }
        executor.instanceGone("a")
        let drainLeft = await drain.value
        XCTAssertEqual(drainLeft, 0, "a drain of an instance that left is over")
        XCTAssertTrue(transport.instance("a").closed)
        XCTAssertEqual(executor.instanceIds, ["b"])
        // What ran on a finishes (the connection closes gracefully); the queue now waits for b only.
        transport.instance("a").open()
        transport.instance("b").open()
        var served: [String] = []
        for request in running + waiting { served.append(try await request.value) }
        XCTAssertEqual(served.sorted(), ["a", "b", "b", "b"])
        XCTAssertEqual(transport.instance("a").calls, 1, "no request went to a after it left")
    }

    func testClosingTheExecutorFailsQueuedAndNewRequestsWithTheReason() async throws {
        let executor = try executor(["a"], maxInFlight: 1)
        transport.instance("a").behaviour = .hold
        let running = send(executor)
        await eventually("it runs") { inFlight(executor) == 1 }
        let waiting = send(executor)
        await eventually("one queues") { queued(executor) == 1 }
        executor.close(reason: InferenceError(.unavailable, "block chat is being removed"))
        let waitingFailure = await failure(waiting)?.message
        XCTAssertEqual(waitingFailure, "block chat is being removed")
        let newFailure = await failure(send(executor))?.message
        XCTAssertEqual(newFailure, "block chat is being removed")
        XCTAssertTrue(transport.instance("a").closed)
        transport.instance("a").open()
        _ = try await running.value
    }

    // MARK: Management

    func testManagementCommandsGoToEveryServingInstance() async throws {
        let executor = try executor(["a", "b"])
        transport.instance("b").behaviour = .fail(.unimplemented)
        let answers = await Management.manage(executor.connections(instanceId: nil), action: "reset", data: ["session_id": "s"])
        XCTAssertEqual(answers.map(\.instanceId), ["a", "b"])
        guard case .success(let value) = answers[0].result else { return XCTFail("a should answer") }
        XCTAssertEqual(value["action"]?.stringValue, "reset")
        XCTAssertEqual(value["data"]?["session_id"]?.stringValue, "s")
        guard case .failure(let error) = answers[1].result else { return XCTFail("b should fail") }
        XCTAssertEqual(error.code, .unimplemented)
    }
}

/// What a stream handed on, collected across tasks.
final class Received: Sendable {
    private let storage = Mutex<[[String]]>([])
    func append(_ value: [String]) { storage.withLock { $0.append(value) } }
    var values: [[String]] { storage.withLock { $0 } }
}
