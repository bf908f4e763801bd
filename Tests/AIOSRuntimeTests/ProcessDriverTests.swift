import AIOSModel
@testable import AIOSRuntime
import Foundation
import Logging
import Synchronization
import XCTest

/// The process driver against real processes: a run's states, a stop that must force, and the reconcile that
/// stops what an earlier platform left.
final class ProcessDriverTests: XCTestCase {
    private var directory: URL!

    override func setUp() {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("aios-driver-\(UUID().uuidString.prefix(8))")
        try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(at: directory)
    }

    private func driver() -> ProcessDriver {
        ProcessDriver(runDirectory: directory.appendingPathComponent("run"), pythonVirtualEnv: nil, terminationGrace: 1, logger: Logger(label: "test"))
    }

    private func launch(_ script: String, instance: String = "i") -> InstanceLaunch {
        let log = directory.appendingPathComponent("\(instance).log").path
        FileManager.default.createFile(atPath: log, contents: nil)
        return InstanceLaunch(blockId: "b", instanceId: instance, clusterId: "local", nodeId: "n", gpus: [], environment: ["PATH": "/usr/bin:/bin"],
                              blockFile: "/dev/null", workload: .command(["/bin/sh", "-c", script], cwd: "/"), logPath: log)
    }

    private func states(of run: any InstanceRun) async -> [InstanceState] {
        var seen: [InstanceState] = []
        for await state in run.states { seen.append(state) }
        return seen
    }

    func testARunReportsItsAddressThenItsExitStatus() async throws {
        let run = try await driver().start(launch("echo listening on $AIOS_LISTEN; exit 3"))
        XCTAssertEqual(run.identity.driver, "process")
        XCTAssertNotNil(run.identity.pid)
        let seen = await states(of: run)
        XCTAssertEqual(seen, [.running(address: run.address), .exited(status: 3)])
        let log = try String(contentsOfFile: directory.appendingPathComponent("i.log").path, encoding: .utf8)
        XCTAssertTrue(log.contains("listening on \(run.address)"), log)
    }

    func testStopForcesAProgramThatIgnoresSIGTERM() async throws {
        let run = try await driver().start(launch("trap '' TERM; while true; do sleep 1; done"))
        try await Task.sleep(for: .milliseconds(200))
        XCTAssertTrue(run.isAlive)
        let stopped = await run.stop(grace: 0.3)
        XCTAssertTrue(stopped, "gone within the grace period and the forced stop")
        XCTAssertFalse(run.isAlive)
        let seen = await states(of: run)
        XCTAssertEqual(seen.last, .exited(status: 128 + SIGKILL))
    }

    func testReconcileStopsWhatAnEarlierPlatformLeft() async throws {
        // A platform that started an instance and then died without stopping it.
        let left = try await driver().start(launch("sleep 60", instance: "left"))
        let pid = try XCTUnwrap(left.identity.pid)
        XCTAssertTrue(left.isAlive)
        // The next platform reconciles against its records: host processes cannot be adopted, so it stops them.
        var record = InstanceRecord(placement: .init(instanceId: "left", nodeId: "n", gpus: []), logPath: "", driver: "process")
        record.pid = pid
        let adopted = await driver().reconcile(recorded: [InstanceKey(blockId: "b", instanceId: "left"): record])
        XCTAssertTrue(adopted.isEmpty)
        XCTAssertFalse(left.isAlive, "the leftover instance is stopped")
    }

    func testAJobHandsOnEachLineAndEndsAtItsTimeout() async throws {
        let lines = LineBox()
        let ending = await driver().runJob(JobLaunch(name: "job", workload: .command(["/bin/sh", "-c", "echo one; echo two; sleep 30"], cwd: "/"),
                                                     environment: ["PATH": "/usr/bin:/bin"], logPath: directory.appendingPathComponent("job.log").path,
                                                     timeout: 1, grace: 0.5)) { line in await lines.add(String(line)) }
        XCTAssertEqual(ending, .timedOut(seconds: 1))
        let seen = await lines.all
        XCTAssertEqual(seen, ["one", "two"])
    }

    /// A driver whose start suspends a while before it spawns (a pod being created, an image unpacked).
    private struct SlowDriver: InstanceDriver {
        let inner: ProcessDriver
        let started = Spawns()
        /// Yields once a start has begun (and is sleeping).
        let began: AsyncStream<Void>.Continuation
        var name: String { "slow" }
        func refusal(for workload: InstanceWorkload.Kind) -> String? { nil }
        func start(_ launch: InstanceLaunch) async throws -> any InstanceRun {
            began.yield()
            try? await Task.sleep(for: .milliseconds(300))
            let run = try await inner.start(launch)
            started.add(run.identity)
            return run
        }
        func reconcile(recorded: [InstanceKey: InstanceRecord]) async -> [InstanceKey: any InstanceRun] { [:] }
        func runJob(_ job: JobLaunch, onLine: @escaping @Sendable (Substring) async -> Void) async -> ProgramEnding { .cancelled }
    }

    func testAStopDuringASlowStartLeavesNothingRunning() async throws {
        let (starts, began) = AsyncStream.makeStream(of: Void.self)
        let driver = SlowDriver(inner: driver(), began: began)
        var policy = SupervisionPolicy()
        policy.terminationGrace = 1
        let supervisor = InstanceSupervisor(launch: launch("sleep 60"), driver: driver, policy: policy, probe: { _ in true }, onEvent: { _ in })
        await supervisor.start()
        // Stop while the driver is inside its start, whatever the machine's load.
        var entered = starts.makeAsyncIterator()
        _ = await entered.next()
        await supervisor.stop()
        // The spawn came after the stop began: the supervisor must still have stopped it before returning.
        let spawned = driver.started.all
        XCTAssertEqual(spawned.count, 1, "the start under way finished")
        for identity in spawned {
            let pid = try XCTUnwrap(identity.pid), startTime = try XCTUnwrap(identity.startTime)
            XCTAssertFalse(ProcessTable.isAlive(pid: pid, startTime: startTime), "pid \(pid) outlived its supervisor")
        }
    }

    func testTheProcessDriverRefusesImages() async {
        XCTAssertNotNil(driver().refusal(for: .image))
        XCTAssertNil(driver().refusal(for: .command))
        var image = launch("true")
        image.workload = .image("example.com/x:1")
        do {
            _ = try await driver().start(image)
            XCTFail("an image cannot run as a process")
        } catch {}
    }
}

/// The runs a test driver started.
private final class Spawns: Sendable {
    private let identities = Mutex<[RunIdentity]>([])
    func add(_ identity: RunIdentity) { identities.withLock { $0.append(identity) } }
    var all: [RunIdentity] { identities.withLock { $0 } }
}

private actor LineBox {
    private(set) var all: [String] = []
    func add(_ line: String) { all.append(line) }
}
