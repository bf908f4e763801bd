import AIOSModel
import AIOSStore
import Foundation
import XCTest

/// The `Registry` contract, checked against every implementation with the same assertions: a SQLite file
/// in a temporary directory and the in-memory registry.
final class RegistryContractTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("aios-contract-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    /// Each implementation, fresh, with its name for failure messages.
    private func registries() throws -> [(String, any Registry)] {
        [
            ("SQLiteRegistry", try SQLiteRegistry(path: directory.appendingPathComponent("\(UUID().uuidString).db").path)),
            ("InMemoryRegistry", InMemoryRegistry()),
        ]
    }

    /// A fixed time `seconds` after a round epoch (whole seconds survive every store exactly).
    private func time(_ seconds: Double) -> Date { Date(timeIntervalSince1970: 1_700_000_000 + seconds) }

    private func task(_ id: String, _ action: String = "act", at seconds: Double = 0) -> TaskRecord {
        TaskRecord(id: id, action: action, subject: "s", status: .completed, createdAt: time(seconds))
    }

    private func component(_ name: String) throws -> ComponentSpec {
        try ComponentSpec(envelope: SpecEnvelope(document: [
            "componentId": ["name": .string(name), "version": "1", "releaseTag": "t"], "componentType": "model",
        ]))
    }

    private func block(_ id: String, at seconds: Double = 0) throws -> BlockRecord {
        let spec = try BlockSpec(envelope: SpecEnvelope(document: [
            "blockId": .string(id), "blockComponentURI": "model.c:1-t", "minInstances": 1, "maxInstances": 3,
        ]))
        return BlockRecord(spec: spec, resolved: try spec.resolve(with: try component("c")), now: time(seconds))
    }

    private static func reservation(_ blockId: String, _ instanceId: String) -> Reservation {
        Reservation(blockId: blockId, instanceId: instanceId, clusterId: "local", nodeId: "n1", gpus: ["0"], gpuMemory: 1000, cpus: 1, memory: 512)
    }

    /// Runs `body` and returns the `RegistryError` it threw (failing when it threw none).
    private func refusal(_ name: String, _ body: () async throws -> Void, line: UInt = #line) async -> RegistryError? {
        do {
            try await body()
            XCTFail("\(name): accepted", line: line)
        } catch let error as RegistryError {
            return error
        } catch {
            XCTFail("\(name): \(error)", line: line)
        }
        return nil
    }

    func testComponentsAreUniqueAndARefusedAddLeavesNoTask() async throws {
        for (name, registry) in try registries() {
            try await registry.addComponent(ComponentRecord(spec: try component("b"), createdAt: time(2)), task: task("t1"))
            try await registry.addComponent(ComponentRecord(spec: try component("a"), createdAt: time(2)), task: task("t2"))
            try await registry.addComponent(ComponentRecord(spec: try component("z"), createdAt: time(1)), task: task("t3"))
            let duplicate = await refusal(name) {
                try await registry.addComponent(ComponentRecord(spec: try self.component("a")), task: self.task("t4"))
            }
            XCTAssertEqual(duplicate, .duplicate(kind: "component", id: "model.a:1-t"), name)
            let refusedTask = try await registry.task(id: "t4")
            XCTAssertNil(refusedTask, name)
            let listed = try await registry.components()
            XCTAssertEqual(listed.map(\.spec.uri.description), ["model.z:1-t", "model.a:1-t", "model.b:1-t"], "by creation, then URI: \(name)")
            let found = try await registry.component(uri: "model.b:1-t")
            XCTAssertEqual(found?.spec.uri.name, "b", name)
            let missing = try await registry.component(uri: "model.nope:1-t")
            XCTAssertNil(missing, name)
        }
    }

    func testClustersAndTheirNodes() async throws {
        for (name, registry) in try registries() {
            let cluster = ClusterSpec(id: "c1", document: ["id": "c1", "tags": ["x"]], nodes: [NodeSpec(id: "n1", document: ["id": "n1"])])
            try await registry.createCluster(cluster, task: task("t1"))
            let duplicate = await refusal(name) { try await registry.createCluster(cluster, task: self.task("t2")) }
            XCTAssertEqual(duplicate, .duplicate(kind: "cluster", id: "c1"), name)
            try await registry.addNode(NodeSpec(id: "n2", document: ["id": "n2"]), toCluster: "c1", task: task("t3"))
            let duplicateNode = await refusal(name) {
                try await registry.addNode(NodeSpec(id: "n2", document: ["id": "n2"]), toCluster: "c1", task: self.task("t4"))
            }
            XCTAssertEqual(duplicateNode, .duplicate(kind: "node", id: "c1/n2"), name)
            let missingCluster = await refusal(name) {
                try await registry.addNode(NodeSpec(id: "n", document: ["id": "n"]), toCluster: "nope", task: self.task("t5"))
            }
            XCTAssertEqual(missingCluster, .notFound(kind: "cluster", id: "nope"), name)
            let stored = try await registry.cluster(id: "c1")
            XCTAssertEqual(stored?.nodes.map(\.id), ["n1", "n2"], name)
            XCTAssertEqual(stored?.document["tags"], ["x"], name)
            let refusedTasks = [try await registry.task(id: "t2"), try await registry.task(id: "t4"), try await registry.task(id: "t5")]
            XCTAssertEqual(refusedTasks.compactMap { $0 }.count, 0, "refused changes leave no task: \(name)")

            try await registry.putCluster(ClusterSpec(id: "local", document: ["id": "local"], nodes: [NodeSpec(id: "a", document: ["id": "a"])]))
            try await registry.putCluster(ClusterSpec(id: "c1", document: ["id": "c1"], nodes: [NodeSpec(id: "n9", document: ["id": "n9"])]))
            let replaced = try await registry.cluster(id: "c1")
            XCTAssertEqual(replaced?.nodes.map(\.id), ["n9"], "putCluster replaces every node: \(name)")
            let clusters = try await registry.clusters()
            XCTAssertEqual(clusters.map(\.id), ["c1", "local"], "replacing keeps a cluster's place: \(name)")
        }
    }

    func testBlocksTheirUpdatesAndEvents() async throws {
        for (name, registry) in try registries() {
            let original = try block("b2", at: 1)
            try await registry.createBlock(original, event: BlockEvent(time: time(1), type: .created, message: "m"), task: task("t1"))
            try await registry.createBlock(try block("b1", at: 1), event: BlockEvent(type: .created, message: "m"), task: task("t2"))
            try await registry.createBlock(try block("a9", at: 5), event: BlockEvent(type: .created, message: "m"), task: task("t3"))
            let duplicate = await refusal(name) {
                try await registry.createBlock(try self.block("b2"), event: BlockEvent(type: .created, message: "again"), task: self.task("t4"))
            }
            XCTAssertEqual(duplicate, .duplicate(kind: "block", id: "b2"), name)
            let listed = try await registry.blocks()
            XCTAssertEqual(listed.map(\.blockId), ["b1", "b2", "a9"], "by creation, then id: \(name)")

            var changed = original
            changed.phase = .degraded
            changed.reason = "because"
            changed.desiredInstances = 2
            changed.placement = BlockPlacement(clusterId: "local", instances: [.init(instanceId: "i1", nodeId: "n1", gpus: ["0"])])
            changed.spec = ["ignored": true]
            changed.createdAt = time(99)
            try await registry.updateBlock(changed, event: BlockEvent(type: .degraded, message: "because"))
            try await registry.updateBlock(changed, event: nil)
            let stored = try await registry.block(id: "b2")
            XCTAssertEqual(stored?.phase, .degraded, name)
            XCTAssertEqual(stored?.reason, "because", name)
            XCTAssertEqual(stored?.desiredInstances, 2, name)
            XCTAssertEqual(stored?.placement.instances.map(\.instanceId), ["i1"], name)
            XCTAssertEqual(stored?.spec, original.spec, "the spec stays as created: \(name)")
            XCTAssertEqual(stored?.createdAt, time(1), "the creation time stays: \(name)")
            XCTAssertGreaterThan(stored?.updatedAt ?? .distantPast, time(1), "the update time is when it was stored: \(name)")
            let events = try await registry.events(blockId: "b2")
            XCTAssertEqual(events.map(\.type), [.created, .degraded], name)

            let missing = await refusal(name) { try await registry.updateBlock(try self.block("nope"), event: nil) }
            XCTAssertEqual(missing, .notFound(kind: "block", id: "nope"), name)
            let noEvents = try await registry.events(blockId: "nope")
            XCTAssertEqual(noEvents.count, 0, name)
        }
    }

    func testTransitionsStoreTheBlockItsEventsAndItsReservationsTogether() async throws {
        for (name, registry) in try registries() {
            try await registry.createBlock(try block("b"), event: BlockEvent(type: .created, message: ""), task: task("t1"))
            try await registry.createBlock(try block("a"), event: BlockEvent(type: .created, message: ""), task: task("t2"))
            _ = try await registry.transition(blockId: "a") { current, _ in
                BlockTransition(block: current, events: [], reservations: [Self.reservation("a", "i1")])
            }
            let placed = try await registry.transition(blockId: "b") { current, reservations in
                XCTAssertEqual(reservations.map(\.instanceId), ["i1"], "the decision sees every block's reservations: \(name)")
                var next = current
                next.phase = .starting
                return BlockTransition(block: next, events: [BlockEvent(type: .placed, message: "2 instances")],
                                       reservations: [Self.reservation("b", "i2"), Self.reservation("b", "i1")])
            }
            XCTAssertEqual(placed.block.phase, .starting, name)
            var all = try await registry.reservations()
            XCTAssertEqual(all.map { "\($0.blockId)/\($0.instanceId)" }, ["a/i1", "b/i1", "b/i2"], "by block, then instance: \(name)")
            XCTAssertEqual(all.last, Self.reservation("b", "i2"), name)

            _ = try await registry.transition(blockId: "b") { current, _ in
                BlockTransition(block: current, events: [BlockEvent(type: .scaledDown, message: "")], releasedInstances: ["i1"])
            }
            all = try await registry.reservations()
            XCTAssertEqual(all.map { "\($0.blockId)/\($0.instanceId)" }, ["a/i1", "b/i2"], "a release frees its block's instance only: \(name)")

            struct Refused: Error {}
            do {
                _ = try await registry.transition(blockId: "b") { current, _ in
                    _ = current
                    throw Refused()
                }
                XCTFail("\(name): a refused decision must throw")
            } catch is Refused {}
            let afterRefusal = try await registry.block(id: "b")
            XCTAssertEqual(afterRefusal?.phase, .starting, name)
            let events = try await registry.events(blockId: "b")
            XCTAssertEqual(events.map(\.type), [.created, .placed, .scaledDown], name)

            let missing = await refusal(name) {
                _ = try await registry.transition(blockId: "nope") { current, _ in BlockTransition(block: current, events: []) }
            }
            XCTAssertEqual(missing, .notFound(kind: "block", id: "nope"), name)

            try await registry.deleteBlock(id: "b", task: task("t3"))
            let gone = try await registry.block(id: "b")
            XCTAssertNil(gone, name)
            let goneEvents = try await registry.events(blockId: "b")
            XCTAssertEqual(goneEvents.count, 0, "a deleted block's events go with it: \(name)")
            all = try await registry.reservations()
            XCTAssertEqual(all.map(\.blockId), ["a"], "and its reservations: \(name)")
            let deleteAgain = await refusal(name) { try await registry.deleteBlock(id: "b", task: self.task("t4")) }
            XCTAssertEqual(deleteAgain, .notFound(kind: "block", id: "b"), name)
            let refusedTask = try await registry.task(id: "t4")
            XCTAssertNil(refusedTask, name)
        }
    }

    func testConcurrentTransitionsNeverSeeEachOtherHalfDone() async throws {
        for (name, registry) in try registries() {
            try await registry.createBlock(try block("b"), event: BlockEvent(type: .created, message: ""), task: task("t"))
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<20 {
                    group.addTask {
                        _ = try await registry.transition(blockId: "b") { current, reservations in
                            // The count of reservations and the desired count move together, or not at all.
                            XCTAssertEqual(reservations.count, current.desiredInstances - 1, name)
                            var next = current
                            next.desiredInstances += 1
                            return BlockTransition(block: next, events: [BlockEvent(type: .scaledUp, message: "\(index)")],
                                                   reservations: [Self.reservation("b", "i\(index)")])
                        }
                    }
                }
                try await group.waitForAll()
            }
            let stored = try await registry.block(id: "b")
            XCTAssertEqual(stored?.desiredInstances, 21, name)
            let reservations = try await registry.reservations()
            XCTAssertEqual(reservations.count, 20, name)
            let events = try await registry.events(blockId: "b")
            XCTAssertEqual(events.count, 21, name)
        }
    }

    func testOldEventsAreDroppedPastTheLimit() async throws {
        for (name, registry) in try registries() {
            let record = try block("b")
            try await registry.createBlock(record, event: BlockEvent(type: .created, message: "0"), task: task("t"))
            for index in 1...(SQLiteRegistry.eventsPerBlock + 5) {
                try await registry.updateBlock(record, event: BlockEvent(type: .instanceStarted, message: String(index)))
            }
            let events = try await registry.events(blockId: "b")
            XCTAssertEqual(events.count, SQLiteRegistry.eventsPerBlock, name)
            XCTAssertEqual(events.first?.message, "6", "the oldest go first: \(name)")
            XCTAssertEqual(events.last?.message, String(SQLiteRegistry.eventsPerBlock + 5), name)
        }
    }

    func testPoliciesAreReplacedByURIAndListedByKind() async throws {
        for (name, registry) in try registries() {
            try await registry.putPolicy(PolicyRecord(uri: "policy.loadBalancer.rr:v1", kind: "loadBalancer", document: ["a": 1], createdAt: time(1)))
            try await registry.putPolicy(PolicyRecord(uri: "policy.autoscaler.cpu:v1", kind: "autoscaler", document: ["b": 1]))
            try await registry.putPolicy(PolicyRecord(uri: "policy.loadBalancer.rr:v1", kind: "loadBalancer", document: ["a": 2], createdAt: time(9)))
            let policies = try await registry.policies()
            XCTAssertEqual(policies.map(\.uri), ["policy.autoscaler.cpu:v1", "policy.loadBalancer.rr:v1"], name)
            let replaced = try await registry.policy(uri: "policy.loadBalancer.rr:v1")
            XCTAssertEqual(replaced?.document, ["a": 2], name)
            XCTAssertEqual(replaced?.createdAt, time(1), "a replaced policy keeps its creation time: \(name)")
        }
    }

    func testVDAGsAndTheirControllers() async throws {
        for (name, registry) in try registries() {
            let vdag = VDAGRecord(uri: "vdag.chain:1-t", document: ["nodes": []], assignment: ["n1": "b1"])
            try await registry.addVDAG(vdag, task: task("t1"))
            try await registry.addVDAG(VDAGRecord(uri: "vdag.a:1-t", document: [:], assignment: [:]), task: task("t2"))
            let duplicate = await refusal(name) { try await registry.addVDAG(vdag, task: self.task("t3")) }
            XCTAssertEqual(duplicate, .duplicate(kind: "vDAG", id: "vdag.chain:1-t"), name)
            let vdags = try await registry.vdags()
            XCTAssertEqual(vdags.map(\.uri), ["vdag.a:1-t", "vdag.chain:1-t"], name)
            let stored = try await registry.vdag(uri: "vdag.chain:1-t")
            XCTAssertEqual(stored?.assignment, ["n1": "b1"], name)

            try await registry.addVDAGController(VDAGControllerRecord(id: "z", vdagURI: "vdag.chain:1-t", clusterId: "local", config: [:]), task: task("t4"))
            try await registry.addVDAGController(VDAGControllerRecord(id: "c", vdagURI: "vdag.chain:1-t", clusterId: "local", config: ["k": 1]), task: task("t5"))
            let duplicateController = await refusal(name) {
                try await registry.addVDAGController(VDAGControllerRecord(id: "c", vdagURI: "vdag.chain:1-t", clusterId: "local", config: [:]), task: self.task("t6"))
            }
            XCTAssertEqual(duplicateController, .duplicate(kind: "vDAG controller", id: "c"), name)
            let orphan = await refusal(name) {
                try await registry.addVDAGController(VDAGControllerRecord(id: "o", vdagURI: "vdag.nope:1-t", clusterId: "local", config: [:]), task: self.task("t7"))
            }
            XCTAssertEqual(orphan, .notFound(kind: "vDAG", id: "vdag.nope:1-t"), name)
            let controllers = try await registry.vdagControllers()
            XCTAssertEqual(controllers.map(\.id), ["c", "z"], name)
            XCTAssertEqual(controllers.first?.config, ["k": 1], name)

            try await registry.deleteVDAGController(id: "c", task: task("t8"))
            let missingController = await refusal(name) { try await registry.deleteVDAGController(id: "c", task: self.task("t9")) }
            XCTAssertEqual(missingController, .notFound(kind: "vDAG controller", id: "c"), name)
            try await registry.deleteVDAG(uri: "vdag.a:1-t", task: task("t10"))
            let missingVDAG = await refusal(name) { try await registry.deleteVDAG(uri: "vdag.a:1-t", task: self.task("t11")) }
            XCTAssertEqual(missingVDAG, .notFound(kind: "vDAG", id: "vdag.a:1-t"), name)
            let refused = [try await registry.task(id: "t3"), try await registry.task(id: "t6"), try await registry.task(id: "t7"),
                           try await registry.task(id: "t9"), try await registry.task(id: "t11")]
            XCTAssertEqual(refused.compactMap { $0 }.count, 0, "refused changes leave no task: \(name)")
            let kept = [try await registry.task(id: "t8"), try await registry.task(id: "t10")]
            XCTAssertEqual(kept.compactMap { $0 }.count, 2, name)
        }
    }

    func testContainerRegistriesAndAccessTokens() async throws {
        for (name, registry) in try registries() {
            try await registry.putContainerRegistry(RegistryRecord(id: "r2", url: "https://r2", tls: true, username: "u", sealedPassword: Data([1, 2]), createdAt: time(1)))
            try await registry.putContainerRegistry(RegistryRecord(id: "r1", url: "https://r1", tls: false, username: nil, sealedPassword: nil))
            try await registry.putContainerRegistry(RegistryRecord(id: "r2", url: "https://r2b", tls: true, username: nil, sealedPassword: nil, createdAt: time(5)))
            let registries = try await registry.containerRegistries()
            XCTAssertEqual(registries.map(\.id), ["r1", "r2"], name)
            let replaced = try await registry.containerRegistry(id: "r2")
            XCTAssertEqual(replaced?.url, "https://r2b", name)
            XCTAssertNil(replaced?.sealedPassword, name)
            XCTAssertEqual(replaced?.createdAt, time(1), "a replaced registry keeps its creation time: \(name)")
            try await registry.deleteContainerRegistry(id: "r1")
            let missingRegistry = await refusal(name) { try await registry.deleteContainerRegistry(id: "r1") }
            XCTAssertEqual(missingRegistry, .notFound(kind: "container registry", id: "r1"), name)

            try await registry.putAccessToken(AccessTokenRecord(id: "k2", name: "deployer", scopes: [.deploy, .read], clusterId: nil, secretHash: "h", createdAt: time(2)))
            try await registry.putAccessToken(AccessTokenRecord(id: "k1", name: "admin", scopes: [.admin], clusterId: nil, secretHash: "h", createdAt: time(3)))
            try await registry.putAccessToken(AccessTokenRecord(id: "k1", name: "admin", scopes: [.admin], clusterId: "local", secretHash: "h2",
                                                                createdAt: time(1), expiresAt: time(100)))
            let tokens = try await registry.accessTokens()
            XCTAssertEqual(tokens.map(\.id), ["k1", "k2"], "a replaced token is replaced whole, creation time too: \(name)")
            XCTAssertEqual(tokens.first?.secretHash, "h2", name)
            XCTAssertEqual(tokens.first?.expiresAt, time(100), name)
            XCTAssertEqual(tokens.last?.scopes, [.deploy, .read], name)
            try await registry.deleteAccessToken(id: "k2")
            let missingToken = await refusal(name) { try await registry.deleteAccessToken(id: "k2") }
            XCTAssertEqual(missingToken, .notFound(kind: "token", id: "k2"), name)
        }
    }

    func testSplitTasksAreNewestFirstAndKeepTheirRequest() async throws {
        for (name, registry) in try registries() {
            try await registry.putSplitTask(SplitTaskRecord(id: "s-old", request: ["model": "a"], createdAt: time(1)))
            try await registry.putSplitTask(SplitTaskRecord(id: "s-new", request: ["model": "b"], createdAt: time(3)))
            try await registry.putSplitTask(SplitTaskRecord(id: "s-tie-b", request: [:], createdAt: time(2)))
            try await registry.putSplitTask(SplitTaskRecord(id: "s-tie-a", request: [:], createdAt: time(2)))
            try await registry.putSplitTask(SplitTaskRecord(id: "s-old", status: .complete, progress: 1, message: "done", request: ["model": "changed"],
                                                            plan: ["splits": 2], createdAt: time(50), updatedAt: time(60)))
            let tasks = try await registry.splitTasks()
            XCTAssertEqual(tasks.map(\.id), ["s-new", "s-tie-a", "s-tie-b", "s-old"], "newest first, ties by id: \(name)")
            let updated = try await registry.splitTask(id: "s-old")
            XCTAssertEqual(updated?.status, .complete, name)
            XCTAssertEqual(updated?.message, "done", name)
            XCTAssertEqual(updated?.plan, ["splits": 2], name)
            XCTAssertEqual(updated?.request, ["model": "a"], "the request stays as submitted: \(name)")
            XCTAssertEqual(updated?.createdAt, time(1), name)
            XCTAssertEqual(updated?.updatedAt, time(60), name)
            let missing = try await registry.splitTask(id: "nope")
            XCTAssertNil(missing, name)
        }
    }

    func testTasksAreNewestFirstAndUpdatedInPlace() async throws {
        for (name, registry) in try registries() {
            try await registry.putTask(task("t-old", "first", at: 1))
            try await registry.putTask(task("t-b", "tie", at: 2))
            try await registry.putTask(task("t-a", "tie", at: 2))
            try await registry.putTask(task("t-new", "last", at: 3))
            try await registry.putTask(TaskRecord(id: "t-old", action: "renamed", subject: "other", status: .failed, result: ["error": "x"],
                                                  createdAt: time(99), updatedAt: time(100)))
            let recent = try await registry.tasks(limit: 3)
            XCTAssertEqual(recent.map(\.id), ["t-new", "t-a", "t-b"], "newest first, ties by id: \(name)")
            let all = try await registry.tasks(limit: 10)
            XCTAssertEqual(all.map(\.id), ["t-new", "t-a", "t-b", "t-old"], name)
            let updated = try await registry.task(id: "t-old")
            XCTAssertEqual(updated?.status, .failed, name)
            XCTAssertEqual(updated?.result, ["error": "x"], name)
            XCTAssertEqual(updated?.updatedAt, time(100), name)
            XCTAssertEqual(updated?.action, "first", "action, subject and creation time stay: \(name)")
            XCTAssertEqual(updated?.subject, "s", name)
            XCTAssertEqual(updated?.createdAt, time(1), name)
        }
    }
}
