import AIOSRuntime
import Foundation
import Logging
import XCTest

/// Crash-loop backoff of a supervised process (a real `sleep`), killed from outside: an instance that had
/// been ready for a while restarts at once and never counts towards a crash loop; one that dies soon after
/// becoming ready backs off and is reported crash-looping.
final class InstanceSupervisorTests: XCTestCase {
    /// What the supervisor reported, in order.
    actor Events {
        private(set) var all: [InstanceEvent] = []
        func add(_ event: InstanceEvent) { all.append(event) }

        var exits: [(restartIn: Double, crashLooping: Bool)] {
            all.compactMap { if case .exited(_, _, let restartIn, let crashLooping, _) = $0 { (restartIn, crashLooping) } else { nil } }
        }

        var readyCount: Int {
            all.filter { if case .ready = $0 { true } else { false } }.count
        }
    }

    private var directory: URL!

    override func setUp() {
        directory = temporaryDirectory("supervisor")
    }

    override func tearDown() {
        try? FileManager.default.removeItem(at: directory)
    }

    private func supervisor(stableAfter: Double, initialBackoff: Double, events: Events) -> InstanceSupervisor {
        var policy = SupervisionPolicy()
        policy.stableAfter = stableAfter
        policy.initialBackoff = initialBackoff
        policy.terminationGrace = 1
        let logPath = directory.appendingPathComponent("instance.log").path
        FileManager.default.createFile(atPath: logPath, contents: nil)
        let launch = InstanceLaunch(blockId: "b", instanceId: "i", clusterId: "local", nodeId: "n", gpus: [], environment: ["PATH": "/usr/bin:/bin"],
                                    blockFile: "/dev/null", workload: .command(["/bin/sleep", "300"], cwd: "/"), logPath: logPath)
        let driver = ProcessDriver(runDirectory: directory.appendingPathComponent("run"), pythonVirtualEnv: nil, logger: Logger(label: "test"))
        // Ready as soon as the process runs: what matters here is how long it had been ready when it died.
        return InstanceSupervisor(launch: launch, driver: driver, policy: policy, probe: { _ in true }, onEvent: { await events.add($0) })
    }

    /// Waits for the `count`-th ready event and returns the running pid.
    private func waitForReady(_ supervisor: InstanceSupervisor, _ events: Events, count: Int, timeout: Double = 10) async throws -> Int32 {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if await events.readyCount >= count, let pid = await supervisor.pid { return pid }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw PlatformError("the instance was not ready \(count) time(s) within \(timeout) s: \(await events.all)")
    }

    func testAKilledHealthyInstanceRestartsAtOnceAndNeverCrashLoops() async throws {
        let events = Events()
        // A backoff far longer than a restart takes, so "at once" is unmistakable on a loaded machine.
        let supervisor = supervisor(stableAfter: 1, initialBackoff: 5, events: events)
        await supervisor.start()
        for round in 1...3 {
            let pid = try await waitForReady(supervisor, events, count: round)
            try await Task.sleep(for: .milliseconds(1300))  // ready for longer than stableAfter
            let killedAt = Date()
            kill(pid, SIGKILL)
            _ = try await waitForReady(supervisor, events, count: round + 1)
            XCTAssertLessThan(Date().timeIntervalSince(killedAt), 2.5, "round \(round): restarted at once, without the 5 s backoff")
        }
        let exits = await events.exits
        XCTAssertEqual(exits.map(\.restartIn), [0, 0, 0])
        XCTAssertEqual(exits.map(\.crashLooping), [false, false, false])
        await supervisor.stop()
        XCTAssertFalse(FileManager.default.fileExists(atPath: directory.appendingPathComponent("run/i.json").path), "a stopped instance leaves no run file")
    }

    func testAnInstanceDyingSoonAfterReadinessBacksOffIntoACrashLoop() async throws {
        let events = Events()
        let supervisor = supervisor(stableAfter: 60, initialBackoff: 0.4, events: events)
        await supervisor.start()
        for round in 1...3 {
            let pid = try await waitForReady(supervisor, events, count: round)
            kill(pid, SIGKILL)
        }
        _ = try await waitForReady(supervisor, events, count: 4)
        let exits = await events.exits
        XCTAssertEqual(exits.map(\.restartIn), [0.4, 0.8, 1.6])
        XCTAssertEqual(exits.map(\.crashLooping), [false, false, true])
        await supervisor.stop()
    }
}
