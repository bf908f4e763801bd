import AIOSModel
import AIOSRuntime
import Foundation
import Logging
import Synchronization
import XCTest

/// The init-program runner against real processes: stage lines read as they are written, a clean run, a
/// failing stage, a crash without stages, and a hung program stopped at its timeout.
final class InitProgramRunnerTests: XCTestCase {
    private var directory: URL!

    override func setUp() {
        directory = temporaryDirectory("init-runner")
        try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    /// Jobs run through the process driver, as the platform runs init programs on the host.
    private var driver: ProcessDriver {
        ProcessDriver(runDirectory: directory.appendingPathComponent("run"), pythonVirtualEnv: nil, logger: Logger(label: "test"))
    }

    override func tearDown() {
        try? FileManager.default.removeItem(at: directory)
    }

    private func run(_ script: String, timeout: Double = 10) async -> (InitRunOutcome, [InitStageReport]) {
        let seen = Mutex<[InitStageReport]>([])
        let job = JobLaunch(name: "init-test", workload: .command(["/bin/sh", "-c", script], cwd: directory.path),
                            environment: ["PATH": "/usr/bin:/bin"], logPath: directory.appendingPathComponent("init.log").path,
                            timeout: timeout, grace: 1)
        let outcome = await InitProgramRunner.run(job, on: driver) { report in seen.withLock { $0.append(report) } }
        return (outcome, seen.withLock { $0 })
    }

    func testACleanRunHandsOnEveryStageAndTheFinishPayload() async {
        let (outcome, seen) = await run(#"""
        echo "some output"; printf 'AIOS_INIT_STAGE {"stage":"begin","ok":true,"payload":null,"message":""}\n'
        printf 'partial line then\nAIOS_INIT_STAGE {"stage":"main","ok":true,"payload":{"pid":42},"message":""}\n'
        printf '\nAIOS_INIT_STAGE {"stage":"finish","ok":true,"payload":{"server_url":"http://127.0.0.1:1"},"message":""}\n'
        """#)
        XCTAssertTrue(outcome.succeeded, "\(outcome)")
        XCTAssertEqual(seen.map(\.stage), ["begin", "main", "finish"])
        XCTAssertEqual(outcome.finishPayload?["server_url"], "http://127.0.0.1:1")
        XCTAssertNil(outcome.failure)
    }

    func testAFailingStageIsTheReason() async {
        let (outcome, _) = await run(#"""
        printf 'AIOS_INIT_STAGE {"stage":"begin","ok":true,"payload":null,"message":""}\n'
        printf 'AIOS_INIT_STAGE {"stage":"main","ok":false,"payload":null,"message":"no GPU left"}\n'; exit 1
        """#)
        XCTAssertFalse(outcome.succeeded)
        XCTAssertEqual(outcome.failure, "stage main failed: no GPU left")
    }

    func testAProgramThatReportsNothingFailsWithItsExitStatus() async {
        let (crashed, _) = await run("exit 3")
        XCTAssertEqual(crashed.failure, "the program exited with status 3 after reporting no stage")
        let (quiet, _) = await run("exit 0")
        XCTAssertFalse(quiet.succeeded, "exit 0 without a finish stage is no success")
        let missing = await InitProgramRunner.run(JobLaunch(name: "missing", workload: .command(["/no/such/program"], cwd: "/"), environment: [:],
                                                            logPath: directory.appendingPathComponent("x.log").path, timeout: 5), on: driver) { _ in }
        XCTAssertTrue(missing.failure?.contains("could not start") ?? false, "\(missing)")
    }

    func testAHungProgramIsStoppedAtItsTimeoutAndItsCleanupRuns() async {
        let marker = directory.appendingPathComponent("terminated")
        let began = Date()
        let (outcome, seen) = await run("""
        trap 'touch \(marker.path); exit 143' TERM
        printf 'AIOS_INIT_STAGE {"stage":"begin","ok":true,"payload":null,"message":""}\\n'
        while true; do sleep 0.1; done
        """, timeout: 1)
        XCTAssertEqual(outcome.ending, .timedOut(seconds: 1))
        XCTAssertEqual(seen.map(\.stage), ["begin"])
        XCTAssertTrue(outcome.failure?.contains("did not finish within 1 s") ?? false, outcome.failure ?? "")
        XCTAssertTrue(FileManager.default.fileExists(atPath: marker.path), "SIGTERM first, so the program can clean up")
        XCTAssertLessThan(Date().timeIntervalSince(began), 5)
    }
}
