import AIOSModel
import Foundation
import GRDB

/// The registry in one SQLite file (WAL journal, full fsync on commit): survives restarts and `kill -9`.
public final class SQLiteRegistry: Registry {
    private let pool: DatabasePool
    public let path: String

    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    public init(path: String) throws {
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        self.path = path
        self.pool = try DatabasePool(path: path, configuration: configuration)
        try SQLiteSchema.migrator.migrate(pool)
    }

    // MARK: Components

    public func addComponent(_ component: ComponentRecord, task: TaskRecord) async throws {
        try await pool.write { db in
            let uri = component.spec.uri
            if try Bool.fetchOne(db, sql: "SELECT 1 FROM components WHERE uri = ?", arguments: [uri.description]) == true {
                throw RegistryError.duplicate(kind: "component", id: uri.description)
            }
            try db.execute(
                sql: "INSERT INTO components (uri, type, name, version, release_tag, document, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                arguments: [uri.description, uri.type, uri.name, uri.version, uri.releaseTag,
                            JSONValue.object(component.spec.document).jsonString(), component.createdAt.timeIntervalSince1970])
            try Self.insert(task, db)
        }
    }

    public func component(uri: String) async throws -> ComponentRecord? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM components WHERE uri = ?", arguments: [uri]).map(Self.component)
        }
    }

    public func components() async throws -> [ComponentRecord] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM components ORDER BY created_at, uri").map(Self.component)
        }
    }

    private static func component(_ row: Row) throws -> ComponentRecord {
        let uriText: String = row["uri"]
        guard let uri = ComponentURI(uriText) else { throw RegistryCorruption(table: "components", key: uriText, field: "uri") }
        let document = try object(row["document"], table: "components", key: uriText, field: "document")
        return ComponentRecord(spec: ComponentSpec(uri: uri, document: document), createdAt: date(row["created_at"]))
    }

    // MARK: Clusters

    public func createCluster(_ cluster: ClusterSpec, task: TaskRecord) async throws {
        try await pool.write { db in
            if try Bool.fetchOne(db, sql: "SELECT 1 FROM clusters WHERE id = ?", arguments: [cluster.id]) == true {
                throw RegistryError.duplicate(kind: "cluster", id: cluster.id)
            }
            try Self.write(cluster, db)
            try Self.insert(task, db)
        }
    }

    public func putCluster(_ cluster: ClusterSpec) async throws {
        try await pool.write { db in
            try db.execute(sql: "DELETE FROM nodes WHERE cluster_id = ?", arguments: [cluster.id])
            try Self.write(cluster, db)
        }
    }

    private static func write(_ cluster: ClusterSpec, _ db: Database) throws {
        let now = Date().timeIntervalSince1970
        try db.execute(
            sql: """
                INSERT INTO clusters (id, document, created_at, updated_at) VALUES (?, ?, ?, ?)
                ON CONFLICT(id) DO UPDATE SET document = excluded.document, updated_at = excluded.updated_at
                """,
            arguments: [cluster.id, JSONValue.object(cluster.document).jsonString(), now, now])
        for (position, node) in cluster.nodes.enumerated() {
            try insert(node, position: position, clusterId: cluster.id, db)
        }
    }

    private static func insert(_ node: NodeSpec, position: Int, clusterId: String, _ db: Database) throws {
        try db.execute(
            sql: "INSERT INTO nodes (cluster_id, id, position, document) VALUES (?, ?, ?, ?)",
            arguments: [clusterId, node.id, position, JSONValue.object(node.document).jsonString()])
    }

    public func addNode(_ node: NodeSpec, toCluster clusterId: String, task: TaskRecord) async throws {
        try await pool.write { db in
            guard try Bool.fetchOne(db, sql: "SELECT 1 FROM clusters WHERE id = ?", arguments: [clusterId]) == true else {
                throw RegistryError.notFound(kind: "cluster", id: clusterId)
            }
            if try Bool.fetchOne(db, sql: "SELECT 1 FROM nodes WHERE cluster_id = ? AND id = ?", arguments: [clusterId, node.id]) == true {
                throw RegistryError.duplicate(kind: "node", id: "\(clusterId)/\(node.id)")
            }
            let position = try Int.fetchOne(db, sql: "SELECT COALESCE(MAX(position) + 1, 0) FROM nodes WHERE cluster_id = ?", arguments: [clusterId]) ?? 0
            try Self.insert(node, position: position, clusterId: clusterId, db)
            try db.execute(sql: "UPDATE clusters SET updated_at = ? WHERE id = ?", arguments: [Date().timeIntervalSince1970, clusterId])
            try Self.insert(task, db)
        }
    }

    public func cluster(id: String) async throws -> ClusterSpec? {
        try await pool.read { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM clusters WHERE id = ?", arguments: [id]) else { return nil }
            return try Self.cluster(row, db)
        }
    }

    public func clusters() async throws -> [ClusterSpec] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM clusters ORDER BY created_at, id").map { try Self.cluster($0, db) }
        }
    }

    private static func cluster(_ row: Row, _ db: Database) throws -> ClusterSpec {
        let id: String = row["id"]
        let document = try object(row["document"], table: "clusters", key: id, field: "document")
        let nodes = try Row.fetchAll(db, sql: "SELECT * FROM nodes WHERE cluster_id = ? ORDER BY position", arguments: [id]).map { nodeRow in
            let nodeId: String = nodeRow["id"]
            return NodeSpec(id: nodeId, document: try object(nodeRow["document"], table: "nodes", key: "\(id)/\(nodeId)", field: "document"))
        }
        return ClusterSpec(id: id, document: document, nodes: nodes)
    }

    // MARK: Blocks

    public func createBlock(_ block: BlockRecord, event: BlockEvent, task: TaskRecord) async throws {
        try await pool.write { db in
            if try Bool.fetchOne(db, sql: "SELECT 1 FROM blocks WHERE id = ?", arguments: [block.blockId]) == true {
                throw RegistryError.duplicate(kind: "block", id: block.blockId)
            }
            try db.execute(
                sql: """
                    INSERT INTO blocks (id, component_uri, spec, resolved, min_instances, max_instances, desired_instances,
                                        phase, reason, placement, instances, created_at, updated_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [block.blockId, block.componentURI.description, JSONValue.object(block.spec).jsonString(),
                            try Self.encode(block.resolved), block.minInstances, block.maxInstances, block.desiredInstances,
                            block.phase.rawValue, block.reason, try Self.encode(block.placement),
                            try JSONValue(encoding: block.instances).jsonString(),
                            block.createdAt.timeIntervalSince1970, block.updatedAt.timeIntervalSince1970])
            try Self.insert(event, blockId: block.blockId, db)
            try Self.insert(task, db)
        }
    }

    public func updateBlock(_ block: BlockRecord, event: BlockEvent?) async throws {
        try await pool.write { db in
            try Self.update(block, db)
            if let event { try Self.insert(event, blockId: block.blockId, db) }
        }
    }

    private static func update(_ block: BlockRecord, _ db: Database) throws {
        try db.execute(
            sql: """
                UPDATE blocks SET resolved = ?, min_instances = ?, max_instances = ?, desired_instances = ?, phase = ?,
                                  reason = ?, placement = ?, placement_report = ?, instances = ?, updated_at = ?
                WHERE id = ?
                """,
            arguments: [try encode(block.resolved), block.minInstances, block.maxInstances, block.desiredInstances, block.phase.rawValue, block.reason, try encode(block.placement),
                        block.placementReport.jsonString(), try JSONValue(encoding: block.instances).jsonString(),
                        Date().timeIntervalSince1970, block.blockId])
        guard db.changesCount == 1 else { throw RegistryError.notFound(kind: "block", id: block.blockId) }
    }

    public func transition(blockId: String, _ decide: @escaping @Sendable (BlockRecord, [Reservation]) throws -> BlockTransition) async throws -> BlockTransition {
        try await pool.write { db in
            guard let current = try Row.fetchOne(db, sql: "SELECT * FROM blocks WHERE id = ?", arguments: [blockId]).map(Self.block) else {
                throw RegistryError.notFound(kind: "block", id: blockId)
            }
            let transition = try decide(current, try Self.reservations(db))
            try Self.update(transition.block, db)
            for event in transition.events { try Self.insert(event, blockId: blockId, db) }
            for instanceId in transition.releasedInstances {
                try db.execute(sql: "DELETE FROM reservations WHERE block_id = ? AND instance_id = ?", arguments: [blockId, instanceId])
            }
            for reservation in transition.reservations {
                try db.execute(
                    sql: """
                        INSERT INTO reservations (block_id, instance_id, cluster_id, node_id, gpus, gpu_memory, cpus, memory)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                        """,
                    arguments: [reservation.blockId, reservation.instanceId, reservation.clusterId, reservation.nodeId,
                                try Self.encode(reservation.gpus), reservation.gpuMemory, reservation.cpus, reservation.memory])
            }
            return transition
        }
    }

    public func reservations() async throws -> [Reservation] {
        try await pool.read { db in try Self.reservations(db) }
    }

    private static func reservations(_ db: Database) throws -> [Reservation] {
        try Row.fetchAll(db, sql: "SELECT * FROM reservations ORDER BY block_id, instance_id").map { row in
            let blockId: String = row["block_id"], instanceId: String = row["instance_id"]
            return Reservation(
                blockId: blockId, instanceId: instanceId, clusterId: row["cluster_id"], nodeId: row["node_id"],
                gpus: try decode([String].self, row["gpus"], table: "reservations", key: "\(blockId)/\(instanceId)", field: "gpus"),
                gpuMemory: row["gpu_memory"], cpus: row["cpus"], memory: row["memory"])
        }
    }

    public func deleteBlock(id: String, task: TaskRecord) async throws {
        try await pool.write { db in
            try db.execute(sql: "DELETE FROM blocks WHERE id = ?", arguments: [id])
            guard db.changesCount == 1 else { throw RegistryError.notFound(kind: "block", id: id) }
            try db.execute(sql: "DELETE FROM block_events WHERE block_id = ?", arguments: [id])
            try db.execute(sql: "DELETE FROM reservations WHERE block_id = ?", arguments: [id])
            try Self.insert(task, db)
        }
    }

    public func block(id: String) async throws -> BlockRecord? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM blocks WHERE id = ?", arguments: [id]).map(Self.block)
        }
    }

    public func blocks() async throws -> [BlockRecord] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM blocks ORDER BY created_at, id").map(Self.block)
        }
    }

    public func events(blockId: String) async throws -> [BlockEvent] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM block_events WHERE block_id = ? ORDER BY seq", arguments: [blockId]).map { row in
                BlockEvent(time: Self.date(row["time"]), type: BlockEventType(stored: row["type"]), message: row["message"])
            }
        }
    }

    /// Events kept per block; older ones are dropped as new ones arrive (a crash-looping instance adds one
    /// every backoff period, forever).
    public static let eventsPerBlock = 500

    private static func insert(_ event: BlockEvent, blockId: String, _ db: Database) throws {
        try db.execute(
            sql: "INSERT INTO block_events (block_id, time, type, message) VALUES (?, ?, ?, ?)",
            arguments: [blockId, event.time.timeIntervalSince1970, event.type.rawValue, event.message])
        try db.execute(
            sql: """
                DELETE FROM block_events WHERE block_id = ? AND seq <= (
                    SELECT seq FROM block_events WHERE block_id = ? ORDER BY seq DESC LIMIT 1 OFFSET ?)
                """,
            arguments: [blockId, blockId, eventsPerBlock])
    }

    private static func block(_ row: Row) throws -> BlockRecord {
        let id: String = row["id"]
        let uriText: String = row["component_uri"]
        guard let uri = ComponentURI(uriText) else { throw RegistryCorruption(table: "blocks", key: id, field: "component_uri") }
        let phaseText: String = row["phase"]
        guard let phase = BlockPhase(rawValue: phaseText) else { throw RegistryCorruption(table: "blocks", key: id, field: "phase") }
        return BlockRecord(
            blockId: id, componentURI: uri,
            spec: try object(row["spec"], table: "blocks", key: id, field: "spec"),
            resolved: try decode(ResolvedBlock.self, row["resolved"], table: "blocks", key: id, field: "resolved"),
            minInstances: row["min_instances"], maxInstances: row["max_instances"], desiredInstances: row["desired_instances"],
            phase: phase, reason: row["reason"],
            placement: try decode(BlockPlacement.self, row["placement"], table: "blocks", key: id, field: "placement"),
            placementReport: JSONValue.decodeJSON(Data((row["placement_report"] as String).utf8)) ?? .null,
            instances: try decode([InstanceRecord].self, row["instances"], table: "blocks", key: id, field: "instances"),
            createdAt: date(row["created_at"]), updatedAt: date(row["updated_at"]))
    }

    // MARK: Policies

    public func putPolicy(_ policy: PolicyRecord) async throws {
        try await pool.write { db in
            try db.execute(
                sql: """
                    INSERT INTO policies (uri, kind, document, created_at) VALUES (?, ?, ?, ?)
                    ON CONFLICT(uri) DO UPDATE SET kind = excluded.kind, document = excluded.document
                    """,
                arguments: [policy.uri, policy.kind, policy.document.jsonString(), policy.createdAt.timeIntervalSince1970])
        }
    }

    public func policy(uri: String) async throws -> PolicyRecord? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM policies WHERE uri = ?", arguments: [uri]).map(Self.policy)
        }
    }

    public func policies() async throws -> [PolicyRecord] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM policies ORDER BY kind, uri").map(Self.policy)
        }
    }

    public func deletePolicy(uri: String) async throws {
        try await pool.write { db in
            try db.execute(sql: "DELETE FROM policies WHERE uri = ?", arguments: [uri])
            if db.changesCount == 0 { throw RegistryError.notFound(kind: "policy", id: uri) }
        }
    }

    private static func policy(_ row: Row) throws -> PolicyRecord {
        let uri: String = row["uri"]
        guard let document = JSONValue.decodeJSON(Data((row["document"] as String).utf8)) else {
            throw RegistryCorruption(table: "policies", key: uri, field: "document")
        }
        return PolicyRecord(uri: uri, kind: row["kind"], document: document, createdAt: date(row["created_at"]))
    }

    // MARK: vDAGs

    public func addVDAG(_ vdag: VDAGRecord, task: TaskRecord) async throws {
        try await pool.write { db in
            if try Bool.fetchOne(db, sql: "SELECT 1 FROM vdags WHERE uri = ?", arguments: [vdag.uri]) == true {
                throw RegistryError.duplicate(kind: "vDAG", id: vdag.uri)
            }
            try db.execute(
                sql: "INSERT INTO vdags (uri, document, assignment, created_at) VALUES (?, ?, ?, ?)",
                arguments: [vdag.uri, JSONValue.object(vdag.document).jsonString(), try Self.encode(vdag.assignment),
                            vdag.createdAt.timeIntervalSince1970])
            try Self.insert(task, db)
        }
    }

    public func vdag(uri: String) async throws -> VDAGRecord? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM vdags WHERE uri = ?", arguments: [uri]).map(Self.vdag)
        }
    }

    public func vdags() async throws -> [VDAGRecord] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM vdags ORDER BY uri").map(Self.vdag)
        }
    }

    public func deleteVDAG(uri: String, task: TaskRecord) async throws {
        try await pool.write { db in
            try db.execute(sql: "DELETE FROM vdags WHERE uri = ?", arguments: [uri])
            guard db.changesCount > 0 else { throw RegistryError.notFound(kind: "vDAG", id: uri) }
            try Self.insert(task, db)
        }
    }

    public func addVDAGController(_ controller: VDAGControllerRecord, task: TaskRecord) async throws {
        try await pool.write { db in
            if try Bool.fetchOne(db, sql: "SELECT 1 FROM vdag_controllers WHERE id = ?", arguments: [controller.id]) == true {
                throw RegistryError.duplicate(kind: "vDAG controller", id: controller.id)
            }
            guard try Bool.fetchOne(db, sql: "SELECT 1 FROM vdags WHERE uri = ?", arguments: [controller.vdagURI]) == true else {
                throw RegistryError.notFound(kind: "vDAG", id: controller.vdagURI)
            }
            try db.execute(
                sql: "INSERT INTO vdag_controllers (id, vdag_uri, cluster_id, config, created_at) VALUES (?, ?, ?, ?, ?)",
                arguments: [controller.id, controller.vdagURI, controller.clusterId, JSONValue.object(controller.config).jsonString(),
                            controller.createdAt.timeIntervalSince1970])
            try Self.insert(task, db)
        }
    }

    public func vdagControllers() async throws -> [VDAGControllerRecord] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM vdag_controllers ORDER BY id").map(Self.vdagController)
        }
    }

    public func deleteVDAGController(id: String, task: TaskRecord) async throws {
        try await pool.write { db in
            try db.execute(sql: "DELETE FROM vdag_controllers WHERE id = ?", arguments: [id])
            guard db.changesCount > 0 else { throw RegistryError.notFound(kind: "vDAG controller", id: id) }
            try Self.insert(task, db)
        }
    }

    private static func vdag(_ row: Row) throws -> VDAGRecord {
        let uri: String = row["uri"]
        return VDAGRecord(uri: uri, document: try object(row["document"], table: "vdags", key: uri, field: "document"),
                          assignment: try decode([String: String].self, row["assignment"], table: "vdags", key: uri, field: "assignment"),
                          createdAt: date(row["created_at"]))
    }

    private static func vdagController(_ row: Row) throws -> VDAGControllerRecord {
        let id: String = row["id"]
        return VDAGControllerRecord(id: id, vdagURI: row["vdag_uri"], clusterId: row["cluster_id"],
                                    config: try object(row["config"], table: "vdag_controllers", key: id, field: "config"),
                                    createdAt: date(row["created_at"]))
    }

    // MARK: Tasks

    // MARK: Container registries

    public func putContainerRegistry(_ registry: RegistryRecord) async throws {
        try await pool.write { db in
            try db.execute(
                sql: """
                    INSERT INTO container_registries (id, url, tls, username, sealed_password, created_at) VALUES (?, ?, ?, ?, ?, ?)
                    ON CONFLICT(id) DO UPDATE SET url = excluded.url, tls = excluded.tls, username = excluded.username,
                        sealed_password = excluded.sealed_password
                    """,
                arguments: [registry.id, registry.url, registry.tls, registry.username, registry.sealedPassword, registry.createdAt.timeIntervalSince1970])
        }
    }

    public func containerRegistry(id: String) async throws -> RegistryRecord? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM container_registries WHERE id = ?", arguments: [id]).map(Self.containerRegistry)
        }
    }

    public func containerRegistries() async throws -> [RegistryRecord] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM container_registries ORDER BY id").map(Self.containerRegistry)
        }
    }

    public func deleteContainerRegistry(id: String) async throws {
        try await pool.write { db in
            try db.execute(sql: "DELETE FROM container_registries WHERE id = ?", arguments: [id])
            if db.changesCount == 0 { throw RegistryError.notFound(kind: "container registry", id: id) }
        }
    }

    private static func containerRegistry(_ row: Row) -> RegistryRecord {
        RegistryRecord(id: row["id"], url: row["url"], tls: row["tls"], username: row["username"],
                       sealedPassword: row["sealed_password"], createdAt: date(row["created_at"]))
    }

    // MARK: Access tokens

    public func putAccessToken(_ token: AccessTokenRecord) async throws {
        try await pool.write { db in
            try db.execute(
                sql: """
                    INSERT OR REPLACE INTO access_tokens (id, name, scopes, cluster_id, secret_hash, created_at, expires_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [token.id, token.name, token.scopes.sorted().map(\.rawValue).joined(separator: ","), token.clusterId,
                            token.secretHash, token.createdAt.timeIntervalSince1970, token.expiresAt?.timeIntervalSince1970])
        }
    }

    public func accessTokens() async throws -> [AccessTokenRecord] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM access_tokens ORDER BY created_at, id").map { row in
                let scopes: String = row["scopes"]
                let expires: Double? = row["expires_at"]
                return AccessTokenRecord(
                    id: row["id"], name: row["name"],
                    scopes: Set(scopes.split(separator: ",").compactMap { AccessScope(rawValue: String($0)) }),
                    clusterId: row["cluster_id"], secretHash: row["secret_hash"], createdAt: Self.date(row["created_at"]),
                    expiresAt: expires.map { Date(timeIntervalSince1970: $0) })
            }
        }
    }

    public func deleteAccessToken(id: String) async throws {
        try await pool.write { db in
            try db.execute(sql: "DELETE FROM access_tokens WHERE id = ?", arguments: [id])
            if db.changesCount == 0 { throw RegistryError.notFound(kind: "token", id: id) }
        }
    }

    // MARK: Split tasks

    public func putSplitTask(_ task: SplitTaskRecord) async throws {
        try await pool.write { db in
            try db.execute(
                sql: """
                    INSERT INTO split_tasks (id, status, progress, message, request, plan, error, deployment, created_at, updated_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT(id) DO UPDATE SET status = excluded.status, progress = excluded.progress, message = excluded.message,
                        plan = excluded.plan, error = excluded.error, deployment = excluded.deployment, updated_at = excluded.updated_at
                    """,
                arguments: [task.id, task.status.rawValue, task.progress, task.message, JSONValue.object(task.request).jsonString(),
                            task.plan.jsonString(), task.error, (task.deployment?.json ?? .null).jsonString(),
                            task.createdAt.timeIntervalSince1970, task.updatedAt.timeIntervalSince1970])
        }
    }

    public func splitTask(id: String) async throws -> SplitTaskRecord? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM split_tasks WHERE id = ?", arguments: [id]).map(Self.splitTask)
        }
    }

    public func splitTasks() async throws -> [SplitTaskRecord] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM split_tasks ORDER BY created_at DESC, id").map(Self.splitTask)
        }
    }

    private static func splitTask(_ row: Row) throws -> SplitTaskRecord {
        let id: String = row["id"]
        guard let status = SplitTaskRecord.Status(rawValue: row["status"]) else {
            throw RegistryCorruption(table: "split_tasks", key: id, field: "status")
        }
        func json(_ field: String) throws -> JSONValue {
            guard let value = JSONValue.decodeJSON(Data((row[field] as String).utf8)) else {
                throw RegistryCorruption(table: "split_tasks", key: id, field: field)
            }
            return value
        }
        return SplitTaskRecord(
            id: id, status: status, progress: row["progress"], message: row["message"],
            request: try object(row["request"], table: "split_tasks", key: id, field: "request"),
            plan: try json("plan"), error: row["error"], deployment: SplitDeployment(json: try json("deployment")),
            createdAt: date(row["created_at"]), updatedAt: date(row["updated_at"]))
    }

    public func putTask(_ task: TaskRecord) async throws {
        try await pool.write { db in try Self.insert(task, db) }
    }

    public func task(id: String) async throws -> TaskRecord? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM tasks WHERE id = ?", arguments: [id]).map(Self.task)
        }
    }

    public func tasks(limit: Int) async throws -> [TaskRecord] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM tasks ORDER BY created_at DESC, id LIMIT ?", arguments: [limit]).map(Self.task)
        }
    }

    private static func insert(_ task: TaskRecord, _ db: Database) throws {
        try db.execute(
            sql: """
                INSERT INTO tasks (id, action, subject, status, result, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT(id) DO UPDATE SET status = excluded.status, result = excluded.result, updated_at = excluded.updated_at
                """,
            arguments: [task.id, task.action, task.subject, task.status.rawValue, task.result.jsonString(),
                        task.createdAt.timeIntervalSince1970, task.updatedAt.timeIntervalSince1970])
    }

    private static func task(_ row: Row) throws -> TaskRecord {
        let id: String = row["id"]
        let statusText: String = row["status"]
        guard let status = TaskRecord.Status(rawValue: statusText) else { throw RegistryCorruption(table: "tasks", key: id, field: "status") }
        guard let result = JSONValue.decodeJSON(Data((row["result"] as String).utf8)) else {
            throw RegistryCorruption(table: "tasks", key: id, field: "result")
        }
        return TaskRecord(id: id, action: row["action"], subject: row["subject"], status: status, result: result,
                          createdAt: date(row["created_at"]), updatedAt: date(row["updated_at"]))
    }

    // MARK: Encoding

    private static func date(_ seconds: Double) -> Date { Date(timeIntervalSince1970: seconds) }

    private static func object(_ text: String, table: String, key: String, field: String) throws -> [String: JSONValue] {
        guard case .object(let object)? = JSONValue.decodeJSON(Data(text.utf8)) else {
            throw RegistryCorruption(table: table, key: key, field: field)
        }
        return object
    }

    private static func encode(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    private static func decode<T: Decodable>(_ type: T.Type, _ text: String, table: String, key: String, field: String) throws -> T {
        do {
            return try JSONDecoder().decode(type, from: Data(text.utf8))
        } catch {
            throw RegistryCorruption(table: table, key: key, field: field)
        }
    }
}

/// A stored row that cannot be read back: reported with where it is, never papered over.
public struct RegistryCorruption: Error, CustomStringConvertible {
    public var table: String
    public var key: String
    public var field: String

    public var description: String { "registry row \(table)[\(key)].\(field) cannot be decoded" }
}
