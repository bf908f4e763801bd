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

    /// 32 commands that can only finish together: each marks itself started, then waits until all 32 have.
    /// Were each waited for on a thread of the cooperative pool (a few threads), the later ones would never start,
    /// the first ones would never finish, and every run would end at its timeout. No clock is read.
    func testWaitingCommandsDoNotHoldThePoolsThreads() async throws {
        let barrier = FileManager.default.temporaryDirectory.appendingPathComponent("aios-barrier-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: barrier, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: barrier) }
        let count = 32
        let script = "touch \"$0/$1\"; while [ $(ls \"$0\" | wc -l) -lt \(count) ]; do sleep 0.05; done; echo done"
        try await withThrowingTaskGroup(of: String.self) { group in
            for index in 0..<count {
                group.addTask { try await CommandRunner.run(["sh", "-c", script, barrier.path, String(index)], timeout: 60) }
            }
            for try await output in group { XCTAssertEqual(output, "done\n") }
        }
    }
}
