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
}
