@testable import AIOSMetrics
import Foundation
import XCTest

/// `CommandRunner` runs a real command: what it prints, how a failure and a timeout read, and that waiting
/// for commands does not hold the threads of the cooperative pool.
final class CommandRunnerTests: XCTestCase {
    func testReturnsWhatTheCommandPrinted() async throws {
        let output = try await CommandRunner.run(["sh", "-c", "echo one; echo two >&2; echo three"], timeout: 10)
        XCTAssertEqual(output, "one\nthree\n", "standard output only, in full")
    }

    func testANonZeroExitIsAFailureWithItsStatus() async throws {
        do {
            _ = try await CommandRunner.run(["sh", "-c", "echo partial; exit 3"], timeout: 10)
            XCTFail("a failed command must not return its output")
        } catch let failure as CommandRunner.Failure {
            XCTAssertEqual(failure.reason, "exited with status 3")
            XCTAssertEqual(failure.command, ["sh", "-c", "echo partial; exit 3"])
        }
    }

    func testAMissingCommandFails() async throws {
        do {
            _ = try await CommandRunner.run(["aios-no-such-command-\(UUID().uuidString)"], timeout: 10)
            XCTFail("a missing command must fail")
        } catch let failure as CommandRunner.Failure {
            XCTAssertEqual(failure.reason, "exited with status 127", "env reports a command it cannot find with 127")
        }
    }

    func testACommandPastItsTimeoutIsKilled() async throws {
        let began = ContinuousClock.now
        do {
            _ = try await CommandRunner.run(["sleep", "30"], timeout: 0.3)
            XCTFail("a command past its timeout must fail")
        } catch let failure as CommandRunner.Failure {
            XCTAssertEqual(failure.reason, "timed out after 0.3 s")
        }
        XCTAssertLessThan(began.duration(to: .now), .seconds(10), "the caller goes on at the timeout, not when the command ends")
    }

    func testCancellingTheCallerKillsTheCommand() async throws {
        let began = ContinuousClock.now
        let run = Task { try await CommandRunner.run(["sleep", "30"], timeout: 60) }
        try await Task.sleep(for: .milliseconds(200))
        run.cancel()
        do {
            _ = try await run.value
            XCTFail("a cancelled run must fail")
        } catch let failure as CommandRunner.Failure {
            XCTAssertEqual(failure.reason, "cancelled")
        }
        XCTAssertLessThan(began.duration(to: .now), .seconds(10))
    }

    /// With the pool's threads held for each command (the semaphore it used to wait on), 32 commands of
    /// 0.5 s each would take 16 s / cores; suspended, they overlap.
    func testWaitingCommandsDoNotHoldThePoolsThreads() async throws {
        let began = ContinuousClock.now
        try await withThrowingTaskGroup(of: String.self) { group in
            for _ in 0..<32 {
                group.addTask { try await CommandRunner.run(["sh", "-c", "sleep 0.5; echo done"], timeout: 30) }
            }
            for try await output in group { XCTAssertEqual(output, "done\n") }
        }
        let took = began.duration(to: .now)
        let serialised = Duration.seconds(16 / max(ProcessInfo.processInfo.activeProcessorCount, 1))
        XCTAssertLessThan(took, max(serialised / 2, .seconds(3)), "commands waited one pool thread each (took \(took))")
    }
}
