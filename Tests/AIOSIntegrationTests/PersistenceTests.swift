import AIOSModel
import Foundation
import XCTest

/// What was acknowledged survives a clean restart and a `kill -9`.
final class PersistenceTests: XCTestCase {
    private func populate(_ platform: PlatformProcess) async throws {
        let component = try await platform.post("/api/addComponent", json: Fixtures.chatComponent)
        XCTAssertEqual(component.status, 200)
        let cluster = try await platform.post("/api/createCluster", json: Fixtures.gpuCluster)
        XCTAssertEqual(cluster.status, 200)
        let node = try await platform.post("/api/addNode", json: ["clusterId": "gpu-cluster-1", "id": "node-z"])
        XCTAssertEqual(node.status, 200)
        let metrics = try await platform.post("/api/nodeMetrics", json: Fixtures.nodeMetrics(cluster: "gpu-cluster-1", node: "node-a"))
        XCTAssertEqual(metrics.status, 200)
        let block = try await platform.post("/api/createBlock", json: Fixtures.block(id: "durable"))
        XCTAssertEqual(block.status, 200)
        XCTAssertEqual(block.body["result"]?["phase"], "Starting", block.body.jsonString())
        try await platform.waitForPhase("durable", "Ready")
    }

    private func pid(_ platform: PlatformProcess) async throws -> Int32 {
        let block = try await platform.get("/api/blocks/durable").body
        return Int32(try XCTUnwrap(block["instances"]?.arrayValue?.first?["pid"]?.intValue))
    }

    private func verify(_ platform: PlatformProcess) async throws {
        let component = try await platform.get("/api/components/model.chat:1.0.0-stable")
        XCTAssertEqual(component.status, 200)
        let cluster = try await platform.get("/api/clusters/gpu-cluster-1")
        XCTAssertEqual(cluster.body["nodes"]?["nodeData"]?.arrayValue?.compactMap { $0["id"]?.stringValue }, ["node-a", "node-z"])
        let block = try await platform.waitForPhase("durable", "Ready")
        XCTAssertEqual(block["placement"]?["clusterId"], "gpu-cluster-1")
        XCTAssertEqual(block["placement"]?["instances"]?.arrayValue?.first?["nodeId"], "node-a")
        XCTAssertEqual(block["instances"]?.arrayValue?.count, 1)
        let local = try await platform.get("/api/clusters/local")
        XCTAssertEqual(local.body.value(atDottedPath: "nodes.count"), 1, "restarts must not duplicate the local node")
        let tasks = try await platform.get("/api/tasks")
        XCTAssertEqual(tasks.body.arrayValue?.count, 4)
    }

    func testRegistriesSurviveACleanRestart() async throws {
        let directory = temporaryDirectory("restart")
        defer { try? FileManager.default.removeItem(at: directory) }
        let first = try PlatformProcess(dataDirectory: directory)
        try await populate(first)
        let before = try await pid(first)
        XCTAssertEqual(first.stop(signal: SIGTERM), 0, "SIGTERM must shut down cleanly; log:\n\(first.log)")
        XCTAssertNotEqual(kill(before, 0), 0, "a clean shutdown stops the instances")

        let second = try PlatformProcess(dataDirectory: directory)
        try await verify(second)
    }

    func testRegistriesSurviveKill9() async throws {
        let directory = temporaryDirectory("kill9")
        defer { try? FileManager.default.removeItem(at: directory) }
        let first = try PlatformProcess(dataDirectory: directory)
        try await populate(first)
        let orphan = try await pid(first)
        first.stop(signal: SIGKILL)
        XCTAssertEqual(kill(orphan, 0), 0, "the instance outlives a kill -9 of aios up")

        let second = try PlatformProcess(dataDirectory: directory)
        try await verify(second)
        XCTAssertFalse(InstanceProcesses.alive(orphan), "the restart stops the instance the killed run left")
        let running = InstanceProcesses.running(blockId: "durable", dataDirectory: directory)
        XCTAssertEqual(running.count, 1, "exactly the desired instances run, no duplicates: \(running.map(InstanceProcesses.describe))")
    }

    /// The window the pid record leaves: `kill -9` right after an instance was spawned, before its pid was
    /// recorded. What the run recorded before the spawn (its run file, the marker in its environment) is
    /// enough for the restart to find and stop it.
    func testAnInstanceSpawnedJustBeforeKill9IsStoppedOnRestart() async throws {
        let directory = temporaryDirectory("kill9-spawn")
        defer { try? FileManager.default.removeItem(at: directory) }
        let first = try PlatformProcess(dataDirectory: directory)
        try await populate(first)
        let recorded = try await pid(first)
        let runFiles = directory.appendingPathComponent("run/instances/durable")
        let names = try FileManager.default.contentsOfDirectory(atPath: runFiles.path)
        XCTAssertEqual(names.count, 1, "one run file per running instance: \(names)")
        first.stop(signal: SIGKILL)

        // What the killed run had just done for a second instance: its intent recorded, then the spawn.
        let marker = UUID().uuidString.lowercased()
        try JSONValue.object(["blockId": "durable", "instanceId": "inst-spawned", "spawnMarker": .string(marker)]).jsonData()
            .write(to: runFiles.appendingPathComponent("inst-spawned.json"))
        let spawned = Process()
        spawned.executableURL = URL(fileURLWithPath: "/usr/bin/setsid")
        // An instance with a worker: a process group of two. (SIGTERM unblocked and back to its default: the test
        // runner's children inherit it blocked, and the stop would wait out its grace period for SIGKILL.)
        spawned.arguments = ["python3", "-c", "import os, signal, time; signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGTERM]); "
                             + "signal.signal(signal.SIGTERM, signal.SIG_DFL); os.fork(); time.sleep(300)"]
        spawned.environment = [
            "PATH": "/usr/bin:/bin", "AIOS_SPAWN_ID": marker, "AIOS_BLOCK_ID": "durable",
            "AIOS_BLOCK_FILE": directory.appendingPathComponent("instances/durable/inst-spawned.json").path,
        ]
        try spawned.run()
        try await Task.sleep(for: .milliseconds(300))
        let orphans = InstanceProcesses.running(blockId: "durable", dataDirectory: directory)
        XCTAssertEqual(orphans.count, 3, "the recorded instance, and the unrecorded one with its child: \(orphans.map(InstanceProcesses.describe))")

        let second = try PlatformProcess(dataDirectory: directory)
        try await verify(second)
        XCTAssertFalse(InstanceProcesses.alive(recorded), "the recorded instance is stopped")
        let running = InstanceProcesses.running(blockId: "durable", dataDirectory: directory)
        XCTAssertEqual(running.count, 1, "exactly the recorded instances run, the unrecorded spawn and its child stopped: \(running.map(InstanceProcesses.describe))")
        XCTAssertTrue(second.log.contains("inst-spawned"), "the restart says what it stopped; log:\n\(second.log)")
        XCTAssertFalse(FileManager.default.fileExists(atPath: runFiles.appendingPathComponent("inst-spawned.json").path))
    }
}
