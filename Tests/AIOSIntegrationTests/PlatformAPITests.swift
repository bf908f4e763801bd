import AIOSModel
import Foundation
import XCTest

/// Drives a real `aios up` over HTTP.
final class PlatformAPITests: XCTestCase {
    private var directories: [URL] = []

    override func tearDown() {
        for directory in directories { try? FileManager.default.removeItem(at: directory) }
    }

    private func startPlatform(_ name: String, in directory: URL? = nil) throws -> PlatformProcess {
        let directory = directory ?? temporaryDirectory(name)
        directories.append(directory)
        return try PlatformProcess(dataDirectory: directory)
    }

    func testHealthAndTheLocalClusterDescribesThisMachine() async throws {
        let platform = try startPlatform("health")
        let health = try await platform.get("/healthz")
        XCTAssertEqual(health.status, 200)
        XCTAssertEqual(health.body["status"], "ok")

        let local = try await platform.get("/api/clusters/local")
        XCTAssertEqual(local.status, 200)
        XCTAssertEqual(local.body.value(atDottedPath: "nodes.count"), 1)
        XCTAssertEqual(local.body.value(atDottedPath: "vcpus.count")?.intValue, ProcessInfo.processInfo.activeProcessorCount)
        let memory = try XCTUnwrap(local.body["memory"]?.numberValue)
        XCTAssertEqual(memory, Double(ProcessInfo.processInfo.physicalMemory) / 1_048_576, accuracy: 64)
        let hasNvidiaSMI = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":")
            .contains { FileManager.default.isExecutableFile(atPath: "\($0)/nvidia-smi") }
        if !hasNvidiaSMI { XCTAssertEqual(local.body.value(atDottedPath: "gpus.count"), 0) }
        XCTAssertEqual(local.body["nodes"]?["nodeData"]?.arrayValue?.first?["id"], "local")
        XCTAssertEqual(platform.stop(signal: SIGINT), 0, "SIGINT must shut down cleanly; log:\n\(platform.log)")
    }

    func testComponentsAreAddedReadAndDuplicatesRefused() async throws {
        let platform = try startPlatform("components")
        let added = try await platform.post("/api/addComponent", json: Fixtures.envelope(Fixtures.chatComponent))
        XCTAssertEqual(added.status, 200, added.body.jsonString())
        XCTAssertEqual(added.body["success"], true)
        XCTAssertEqual(added.body["result"]?["componentURI"], "model.chat:1.0.0-stable")
        let taskId = try XCTUnwrap(added.body["task_id"]?.stringValue)
        let task = try await platform.get("/api/tasks/\(taskId)")
        XCTAssertEqual(task.body["status"], "completed")

        let duplicate = try await platform.post("/api/addComponent", json: Fixtures.chatComponent)
        XCTAssertEqual(duplicate.status, 409)
        XCTAssertEqual(duplicate.body["error"]?["fields"]?.arrayValue?.first?["path"], "componentId")

        let yaml = """
            componentId: {name: detector, version: "2.1", releaseTag: beta}
            componentType: model
            containerRegistryInfo: {containerImage: "registry.local/yolo:2.1", containerRegistryId: local, componentMode: aios}
            """
        let yamlAdded = try await platform.post("/api/addComponent", yaml, contentType: "application/yaml")
        XCTAssertEqual(yamlAdded.status, 200, yamlAdded.body.jsonString())
        XCTAssertEqual(yamlAdded.body["result"]?["componentURI"], "model.detector:2.1-beta")

        let list = try await platform.get("/api/components")
        XCTAssertEqual(list.body.arrayValue?.compactMap { $0["componentURI"]?.stringValue }.sorted(),
                       ["model.chat:1.0.0-stable", "model.detector:2.1-beta"])
        let one = try await platform.get("/api/components/model.chat:1.0.0-stable")
        XCTAssertEqual(one.status, 200)
        XCTAssertEqual(one.body["componentMetadata"]?["framework"], "vllm")
        let missing = try await platform.get("/api/components/model.none:1-x")
        XCTAssertEqual(missing.status, 404)
        XCTAssertEqual(missing.body["success"], false)
    }

    func testBlocksAreCreatedReadAndRemoved() async throws {
        let platform = try startPlatform("blocks")
        _ = try await platform.post("/api/addComponent", json: Fixtures.chatComponent)
        let cluster = try await platform.post("/api/createCluster", json: Fixtures.envelope(Fixtures.gpuCluster))
        XCTAssertEqual(cluster.status, 200, cluster.body.jsonString())
        let node = try await platform.post("/api/addNode", json: ["clusterId": "gpu-cluster-1", "nodeData": [
            "id": "node-b", "vcpus": ["count": 16], "memory": 128000, "gpus": ["count": 1, "memory": 24576],
        ]])
        XCTAssertEqual(node.status, 200, node.body.jsonString())
        let clusterDocument = try await platform.get("/api/clusters/gpu-cluster-1")
        XCTAssertEqual(clusterDocument.body.value(atDottedPath: "gpus.count"), 3)
        XCTAssertEqual(clusterDocument.body.value(atDottedPath: "nodes.count"), 2)

        for node in ["node-a", "node-b"] {
            let pushed = try await platform.post("/api/nodeMetrics", json: Fixtures.nodeMetrics(cluster: "gpu-cluster-1", node: node))
            XCTAssertEqual(pushed.status, 200, pushed.body.jsonString())
        }

        let created = try await platform.post("/api/createBlock", json: Fixtures.block(id: "chat-1", parameters: ["temperature": 0.2]))
        XCTAssertEqual(created.status, 200, created.body.jsonString())
        XCTAssertEqual(created.body["success"], true)
        XCTAssertNotNil(created.body["task_id"]?.stringValue)
        XCTAssertEqual(created.body["result"]?["blockId"], "chat-1")
        XCTAssertEqual(created.body["result"]?["phase"], "Starting")
        XCTAssertEqual(created.body["result"]?["placement"]?["clusterId"], "gpu-cluster-1")

        let block = try await platform.get("/api/blocks/chat-1")
        XCTAssertEqual(block.status, 200)
        for key in ["blockId", "componentURI", "phase", "reason", "spec", "placement", "instances", "events"] {
            XCTAssertNotNil(block.body[key], "block view lacks \(key)")
        }
        XCTAssertEqual(block.body["componentURI"], "model.chat:1.0.0-stable")
        XCTAssertEqual(block.body["placement"]?["instances"]?.arrayValue?.count, 1)
        XCTAssertEqual(block.body["resolved"]?["parameters"]?["temperature"], 0.2)
        XCTAssertEqual(block.body["resolved"]?["blockInitData"]?["model_name"], "m")
        XCTAssertEqual(block.body["resolved"]?["policies"]?["loadBalancer"]?["policyRuleURI"], "policy.loadBalancer.roundrobin:v0.0.1")
        XCTAssertEqual(block.body["events"]?.arrayValue?.compactMap { $0["type"]?.stringValue }.prefix(5),
                       ["Created", "PolicyResolved", "PolicyResolved", "Placing", "Placed"])

        let generated = try await platform.post("/api/createBlock", json: Fixtures.block(id: nil))
        let generatedId = try XCTUnwrap(generated.body["result"]?["blockId"]?.stringValue)
        XCTAssertTrue(generatedId.hasPrefix("blk-"), generatedId)

        let blocks = try await platform.get("/api/blocks")
        XCTAssertEqual(blocks.body.arrayValue?.count, 2)

        let removed = try await platform.post("/api/removeBlock", json: ["blockId": "chat-1"])
        XCTAssertEqual(removed.status, 200, removed.body.jsonString())
        let gone = try await platform.get("/api/blocks/chat-1")
        XCTAssertEqual(gone.status, 404)
        let again = try await platform.post("/api/removeBlock", json: Fixtures.envelope(["blockId": "chat-1"]))
        XCTAssertEqual(again.status, 404)
        XCTAssertEqual(again.body["error"]?["fields"]?.arrayValue?.first?["path"], "body.spec.values.blockId")
    }

    /// Concurrent `removeBlock`s of one block make one removal: those that arrive while it runs answer with its
    /// task id, those after it 404.
    func testConcurrentRemovalsOfOneBlockRemoveItOnce() async throws {
        let platform = try startPlatform("remove-once")
        _ = try await platform.post("/api/addComponent", json: Fixtures.chatComponent)
        let created = try await platform.post("/api/createBlock", json: [
            "blockId": "contested", "blockComponentURI": "model.chat:1.0.0-stable", "minInstances": 1, "maxInstances": 1,
        ])
        XCTAssertEqual(created.status, 200, created.body.jsonString())
        try await platform.waitForPhase("contested", "Ready")
        let replies = try await withThrowingTaskGroup(of: PlatformProcess.Reply.self) { group in
            for _ in 0..<6 {
                group.addTask { try await platform.post("/api/removeBlock", json: ["blockId": "contested"]) }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        XCTAssertEqual(Set(replies.map(\.status)).subtracting([200, 404]), [], replies.map { $0.body.jsonString() }.joined(separator: "\n"))
        let taskIds = Set(replies.filter { $0.status == 200 }.compactMap { $0.body["task_id"]?.stringValue })
        XCTAssertEqual(taskIds.count, 1, "one removal, one task: \(replies.map { $0.body.jsonString() })")
        let tasks = try await platform.get("/api/tasks")
        let removals = tasks.body.arrayValue?.filter { $0["action"] == "removeBlock" } ?? []
        XCTAssertEqual(removals.count, 1, tasks.body.jsonString())
        let gone = try await platform.get("/api/blocks/contested")
        XCTAssertEqual(gone.status, 404)
    }
}
