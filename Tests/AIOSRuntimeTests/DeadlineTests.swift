@testable import AIOSRuntime
import Synchronization
import XCTest

/// `Deadline`: the caller goes on with the first result, and the bodies that lost are cancelled instead
/// of running on unawaited.
final class DeadlineTests: XCTestCase {
    /// Counts bodies that ended because they were cancelled.
    final class Cancellations: Sendable {
        private let count = Mutex(0)
        func record() { count.withLock { $0 += 1 } }
        var value: Int { count.withLock { $0 } }
    }

    func testTheFirstResultWinsAndTheLosersAreCancelled() async throws {
        let cancelled = Cancellations()
        let began = ContinuousClock.now
        let winner = await Deadline.first([
            { @Sendable () async -> String in
                do { try await Task.sleep(for: .seconds(30)) } catch { cancelled.record() }
                return "slow"
            },
            { @Sendable () async -> String in "fast" },
            { @Sendable () async -> String in
                do { try await Task.sleep(for: .seconds(30)) } catch { cancelled.record() }
                return "slower"
            },
        ])
        XCTAssertEqual(winner, "fast")
        XCTAssertLessThan(began.duration(to: .now), .seconds(10))
        let deadline = ContinuousClock.now + .seconds(5)
        while cancelled.value < 2, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
        XCTAssertEqual(cancelled.value, 2, "both losers were cancelled")
    }

    func testRunReturnsTheValueAndCancelsItsTimer() async {
        let began = ContinuousClock.now
        let value = await Deadline.run(seconds: 30) { 42 }
        XCTAssertEqual(value, 42)
        XCTAssertLessThan(began.duration(to: .now), .seconds(10))
    }

    func testRunGivesUpAtTheLimitAndCancelsTheBody() async throws {
        let cancelled = Cancellations()
        let value: Int? = await Deadline.run(seconds: 0.1) {
            do { try await Task.sleep(for: .seconds(30)) } catch { cancelled.record() }
            return 1
        }
        XCTAssertNil(value)
        let deadline = ContinuousClock.now + .seconds(5)
        while cancelled.value < 1, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
        XCTAssertEqual(cancelled.value, 1, "the body that lost to the limit was cancelled")
    }

    func testRunGoesOnAtTheLimitEvenWhenTheBodyIgnoresCancellation() async {
        let stuck = Gate()
        let began = ContinuousClock.now
        let value: Int? = await Deadline.run(seconds: 0.2) {
            await stuck.wait()
            return 1
        }
        XCTAssertNil(value)
        XCTAssertLessThan(began.duration(to: .now), .seconds(5), "a body that does not notice cancellation does not hold the caller")
        stuck.open()
    }

    func testACancelledCallerCancelsEveryBody() async throws {
        let cancelled = Cancellations()
        let began = ContinuousClock.now
        let race = Task {
            await Deadline.first([
                { @Sendable () async -> String in
                    do { try await Task.sleep(for: .seconds(30)) } catch { cancelled.record() }
                    return "a"
                },
                { @Sendable () async -> String in
                    do { try await Task.sleep(for: .seconds(30)) } catch { cancelled.record() }
                    return "b"
                },
            ])
        }
        try await Task.sleep(for: .milliseconds(50))
        race.cancel()
        _ = await race.value
        XCTAssertLessThan(began.duration(to: .now), .seconds(10))
        let deadline = ContinuousClock.now + .seconds(5)
        while cancelled.value < 2, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
        XCTAssertEqual(cancelled.value, 2)
    }
}

/// Something a body waits for without noticing cancellation (as a stuck connection attempt would).
final class Gate: Sendable {
    private let state = Mutex<(isOpen: Bool, waiter: CheckedContinuation<Void, Never>?)>((false, nil))

    func wait() async {
        await withCheckedContinuation { continuation in
            let openAlready = state.withLock { state in
                if !state.isOpen { state.waiter = continuation }
                return state.isOpen
            }
            if openAlready { continuation.resume() }
        }
    }

    func open() {
        let waiter = state.withLock { state in
            state.isOpen = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }
}
