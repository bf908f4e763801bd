import AIOSModel
import AIOSStore
import Foundation
import XCTest

final class SQLiteRegistryTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("aios-store-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    private var path: String { directory.appendingPathComponent("aios.db").path }

    private func component() throws -> ComponentSpec {
        try ComponentSpec(envelope: SpecEnvelope(document: [
            "componentId": ["name": "c", "version": "1", "releaseTag": "t"], "componentType": "model",
        ]))
    }

    func testEverythingSurvivesReopening() async throws {
        do {
            let registry = try SQLiteRegistry(path: path)
            let spec = try component()
            try await registry.addComponent(ComponentRecord(spec: spec), task: TaskRecord(action: "addComponent", subject: "x", status: .completed))
            let cluster = try ClusterSpec(envelope: SpecEnvelope(document: ["id": "c1", "nodes": ["nodeData": [["id": "n1"]]]]))
            try await registry.createCluster(cluster, task: TaskRecord(action: "createCluster", subject: "c1", status: .completed))
            try await registry.addNode(NodeSpec(id: "n2", document: ["id": "n2"]), toCluster: "c1",
                                       task: TaskRecord(action: "addNode", subject: "c1/n2", status: .completed))
            let block = try BlockSpec(envelope: SpecEnvelope(document: ["blockId": "b1", "blockComponentURI": "model.c:1-t", "minInstances": 1, "maxInstances": 2]))
            var record = BlockRecord(spec: block, resolved: try block.resolve(with: spec))
            try await registry.createBlock(record, event: BlockEvent(type: .created, message: "m"),
                                           task: TaskRecord(action: "createBlock", subject: "b1", status: .completed))
            record.phase = .degraded
            record.reason = "because"
            try await registry.updateBlock(record, event: BlockEvent(type: .degraded, message: "because"))
            try await registry.putPolicy(PolicyRecord(uri: "policy.loadBalancer.rr:v1", kind: "loadBalancer", document: ["a": 1]))
        }
        let reopened = try SQLiteRegistry(path: path)
        let components = try await reopened.components()
        XCTAssertEqual(components.map(\.spec.uri.description), ["model.c:1-t"])
        let cluster = try await reopened.cluster(id: "c1")
        XCTAssertEqual(cluster?.nodes.map(\.id), ["n1", "n2"])
        let block = try await reopened.block(id: "b1")
        XCTAssertEqual(block?.phase, .degraded)
        XCTAssertEqual(block?.reason, "because")
        let events = try await reopened.events(blockId: "b1")
        XCTAssertEqual(events.map(\.type), [.created, .degraded])
        let policies = try await reopened.policies()
        XCTAssertEqual(policies.map(\.uri), ["policy.loadBalancer.rr:v1"])
        let tasks = try await reopened.tasks(limit: 10)
        XCTAssertEqual(Set(tasks.map(\.action)), ["addComponent", "createCluster", "addNode", "createBlock"])
    }

    func testDuplicatesAreRefusedAndLeaveNoTask() async throws {
        let registry = try SQLiteRegistry(path: path)
        let spec = try component()
        try await registry.addComponent(ComponentRecord(spec: spec), task: TaskRecord(id: "t1", action: "addComponent", subject: "x", status: .completed))
        do {
            try await registry.addComponent(ComponentRecord(spec: spec), task: TaskRecord(id: "t2", action: "addComponent", subject: "x", status: .completed))
            XCTFail("duplicate accepted")
        } catch let error as RegistryError {
            XCTAssertEqual(error, .duplicate(kind: "component", id: "model.c:1-t"))
        }
        let second = try await registry.task(id: "t2")
        XCTAssertNil(second, "a refused change must not leave its task behind")
    }

    func testNodeInMissingClusterIsNotFound() async throws {
        let registry = try SQLiteRegistry(path: path)
        do {
            try await registry.addNode(NodeSpec(id: "n", document: ["id": "n"]), toCluster: "nope",
                                       task: TaskRecord(action: "addNode", subject: "nope/n", status: .completed))
            XCTFail("node added to a missing cluster")
        } catch let error as RegistryError {
            XCTAssertEqual(error, .notFound(kind: "cluster", id: "nope"))
        }
    }
}

final class EventRetentionTests: XCTestCase {
    func testOldEventsAreDroppedPastTheLimit() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("aios-events-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let registry = try SQLiteRegistry(path: directory.appendingPathComponent("aios.db").path)
        let component = try ComponentSpec(envelope: SpecEnvelope(document: [
            "componentId": ["name": "c", "version": "1", "releaseTag": "t"], "componentType": "model",
        ]))
        let spec = try BlockSpec(envelope: SpecEnvelope(document: ["blockId": "b", "blockComponentURI": "model.c:1-t", "minInstances": 1, "maxInstances": 1]))
        let block = BlockRecord(spec: spec, resolved: try spec.resolve(with: component))
        try await registry.createBlock(block, event: BlockEvent(type: .created, message: "0"),
                                       task: TaskRecord(action: "createBlock", subject: "b", status: .completed))
        for index in 1...(SQLiteRegistry.eventsPerBlock + 20) {
            try await registry.updateBlock(block, event: BlockEvent(type: .instanceStarted, message: String(index)))
        }
        let events = try await registry.events(blockId: "b")
        XCTAssertEqual(events.count, SQLiteRegistry.eventsPerBlock)
        XCTAssertEqual(events.last?.message, String(SQLiteRegistry.eventsPerBlock + 20))
    }
}
