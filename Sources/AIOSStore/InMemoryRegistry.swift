import AIOSModel
import Foundation

/// The registry in memory: the same contract as `SQLiteRegistry` (duplicates and missing records refused
/// with `RegistryError`, the same orders, upserts that keep what the SQLite upserts keep, events capped per
/// block) for tests and throwaway platforms. Nothing survives the process.
///
/// One actor holds everything, and no method suspends while it changes state, so every change (a record
/// with its task, a block transition with its events and reservations) is atomic: a change that is refused
/// changes nothing.
public actor InMemoryRegistry: Registry {
    private struct StoredCluster {
        var spec: ClusterSpec
        var createdAt: Date
    }

    private var componentsByURI: [String: ComponentRecord] = [:]
    private var clustersById: [String: StoredCluster] = [:]
    private var blocksById: [String: BlockRecord] = [:]
    private var eventsByBlock: [String: [BlockEvent]] = [:]
    /// Keyed by block id, then instance id.
    private var reservationsByBlock: [String: [String: Reservation]] = [:]
    private var policiesByURI: [String: PolicyRecord] = [:]
    private var vdagsByURI: [String: VDAGRecord] = [:]
    private var controllersById: [String: VDAGControllerRecord] = [:]
    private var containerRegistriesById: [String: RegistryRecord] = [:]
    private var splitTasksById: [String: SplitTaskRecord] = [:]
    private var accessTokensById: [String: AccessTokenRecord] = [:]
    private var tasksById: [String: TaskRecord] = [:]

    /// Events kept per block, as `SQLiteRegistry` keeps them.
    public static let eventsPerBlock = SQLiteRegistry.eventsPerBlock

    public init() {}

    // MARK: Components

    public func addComponent(_ component: ComponentRecord, task: TaskRecord) throws {
        let uri = component.spec.uri.description
        guard componentsByURI[uri] == nil else { throw RegistryError.duplicate(kind: "component", id: uri) }
        componentsByURI[uri] = component
        record(task)
    }

    public func component(uri: String) -> ComponentRecord? {
        componentsByURI[uri]
    }

    public func components() -> [ComponentRecord] {
        componentsByURI.values.sorted { ($0.createdAt, $0.spec.uri.description) < ($1.createdAt, $1.spec.uri.description) }
    }

    // MARK: Clusters

    public func createCluster(_ cluster: ClusterSpec, task: TaskRecord) throws {
        guard clustersById[cluster.id] == nil else { throw RegistryError.duplicate(kind: "cluster", id: cluster.id) }
        clustersById[cluster.id] = StoredCluster(spec: cluster, createdAt: Date())
        record(task)
    }

    public func putCluster(_ cluster: ClusterSpec) {
        // Replaces the document and every node; the cluster keeps its place in the order.
        clustersById[cluster.id] = StoredCluster(spec: cluster, createdAt: clustersById[cluster.id]?.createdAt ?? Date())
    }

    public func addNode(_ node: NodeSpec, toCluster clusterId: String, task: TaskRecord) throws {
        guard clustersById[clusterId] != nil else { throw RegistryError.notFound(kind: "cluster", id: clusterId) }
        guard !clustersById[clusterId]!.spec.nodes.contains(where: { $0.id == node.id }) else {
            throw RegistryError.duplicate(kind: "node", id: "\(clusterId)/\(node.id)")
        }
        clustersById[clusterId]!.spec.nodes.append(node)
        record(task)
    }

    public func cluster(id: String) -> ClusterSpec? {
        clustersById[id]?.spec
    }

    public func clusters() -> [ClusterSpec] {
        clustersById.values.sorted { ($0.createdAt, $0.spec.id) < ($1.createdAt, $1.spec.id) }.map(\.spec)
    }

    // MARK: Blocks

    public func createBlock(_ block: BlockRecord, event: BlockEvent, task: TaskRecord) throws {
        guard blocksById[block.blockId] == nil else { throw RegistryError.duplicate(kind: "block", id: block.blockId) }
        blocksById[block.blockId] = block
        append([event], to: block.blockId)
        record(task)
    }

    public func updateBlock(_ block: BlockRecord, event: BlockEvent?) throws {
        try store(block)
        if let event { append([event], to: block.blockId) }
    }

    public func transition(blockId: String, _ decide: @escaping @Sendable (BlockRecord, [Reservation]) throws -> BlockTransition) throws -> BlockTransition {
        guard let current = blocksById[blockId] else { throw RegistryError.notFound(kind: "block", id: blockId) }
        let transition = try decide(current, allReservations())
        // Checked before anything changes, so a refused transition leaves no trace.
        guard blocksById[transition.block.blockId] != nil else {
            throw RegistryError.notFound(kind: "block", id: transition.block.blockId)
        }
        var reservations = reservationsByBlock
        for instanceId in transition.releasedInstances {
            reservations[blockId]?.removeValue(forKey: instanceId)
        }
        for reservation in transition.reservations {
            guard reservations[reservation.blockId]?[reservation.instanceId] == nil else {
                throw RegistryError.duplicate(kind: "reservation", id: "\(reservation.blockId)/\(reservation.instanceId)")
            }
            reservations[reservation.blockId, default: [:]][reservation.instanceId] = reservation
        }
        try store(transition.block)
        append(transition.events, to: blockId)
        reservationsByBlock = reservations.filter { !$0.value.isEmpty }
        return transition
    }

    public func reservations() -> [Reservation] {
        allReservations()
    }

    public func deleteBlock(id: String, task: TaskRecord) throws {
        guard blocksById.removeValue(forKey: id) != nil else { throw RegistryError.notFound(kind: "block", id: id) }
        eventsByBlock.removeValue(forKey: id)
        reservationsByBlock.removeValue(forKey: id)
        record(task)
    }

    public func block(id: String) -> BlockRecord? {
        blocksById[id]
    }

    public func blocks() -> [BlockRecord] {
        blocksById.values.sorted { ($0.createdAt, $0.blockId) < ($1.createdAt, $1.blockId) }
    }

    public func events(blockId: String) -> [BlockEvent] {
        eventsByBlock[blockId] ?? []
    }

    /// Stores a block's new state as `SQLiteRegistry.updateBlock` does: its identity, component, spec and
    /// creation time stay as created, `updatedAt` is now.
    private func store(_ block: BlockRecord) throws {
        guard let stored = blocksById[block.blockId] else { throw RegistryError.notFound(kind: "block", id: block.blockId) }
        var updated = block
        updated.componentURI = stored.componentURI
        updated.spec = stored.spec
        updated.createdAt = stored.createdAt
        updated.updatedAt = Date()
        blocksById[block.blockId] = updated
    }

    private func append(_ events: [BlockEvent], to blockId: String) {
        guard !events.isEmpty else { return }
        var kept = eventsByBlock[blockId, default: []] + events
        if kept.count > Self.eventsPerBlock { kept.removeFirst(kept.count - Self.eventsPerBlock) }
        eventsByBlock[blockId] = kept
    }

    /// Every reservation, by block id, then instance id.
    private func allReservations() -> [Reservation] {
        reservationsByBlock.keys.sorted().flatMap { blockId in
            reservationsByBlock[blockId]!.keys.sorted().map { reservationsByBlock[blockId]![$0]! }
        }
    }

    // MARK: Policies

    public func putPolicy(_ policy: PolicyRecord) {
        // Replacing keeps the first creation time, as the SQLite upsert does.
        var stored = policy
        if let existing = policiesByURI[policy.uri] { stored.createdAt = existing.createdAt }
        policiesByURI[policy.uri] = stored
    }

    public func policy(uri: String) -> PolicyRecord? {
        policiesByURI[uri]
    }

    public func deletePolicy(uri: String) throws {
        guard policiesByURI.removeValue(forKey: uri) != nil else { throw RegistryError.notFound(kind: "policy", id: uri) }
    }

    public func policies() -> [PolicyRecord] {
        policiesByURI.values.sorted { ($0.kind, $0.uri) < ($1.kind, $1.uri) }
    }

    // MARK: vDAGs

    public func addVDAG(_ vdag: VDAGRecord, task: TaskRecord) throws {
        guard vdagsByURI[vdag.uri] == nil else { throw RegistryError.duplicate(kind: "vDAG", id: vdag.uri) }
        vdagsByURI[vdag.uri] = vdag
        record(task)
    }

    public func vdag(uri: String) -> VDAGRecord? {
        vdagsByURI[uri]
    }

    public func vdags() -> [VDAGRecord] {
        vdagsByURI.values.sorted { $0.uri < $1.uri }
    }

    public func deleteVDAG(uri: String, task: TaskRecord) throws {
        guard vdagsByURI.removeValue(forKey: uri) != nil else { throw RegistryError.notFound(kind: "vDAG", id: uri) }
        record(task)
    }

    public func addVDAGController(_ controller: VDAGControllerRecord, task: TaskRecord) throws {
        guard controllersById[controller.id] == nil else { throw RegistryError.duplicate(kind: "vDAG controller", id: controller.id) }
        guard vdagsByURI[controller.vdagURI] != nil else { throw RegistryError.notFound(kind: "vDAG", id: controller.vdagURI) }
        controllersById[controller.id] = controller
        record(task)
    }

    public func vdagControllers() -> [VDAGControllerRecord] {
        controllersById.values.sorted { $0.id < $1.id }
    }

    public func deleteVDAGController(id: String, task: TaskRecord) throws {
        guard controllersById.removeValue(forKey: id) != nil else { throw RegistryError.notFound(kind: "vDAG controller", id: id) }
        record(task)
    }

    // MARK: Container registries

    public func putContainerRegistry(_ registry: RegistryRecord) {
        var stored = registry
        if let existing = containerRegistriesById[registry.id] { stored.createdAt = existing.createdAt }
        containerRegistriesById[registry.id] = stored
    }

    public func containerRegistry(id: String) -> RegistryRecord? {
        containerRegistriesById[id]
    }

    public func containerRegistries() -> [RegistryRecord] {
        containerRegistriesById.values.sorted { $0.id < $1.id }
    }

    public func deleteContainerRegistry(id: String) throws {
        guard containerRegistriesById.removeValue(forKey: id) != nil else {
            throw RegistryError.notFound(kind: "container registry", id: id)
        }
    }

    // MARK: Split tasks

    public func putSplitTask(_ task: SplitTaskRecord) {
        // Replacing keeps the request and the creation time, as the SQLite upsert does.
        var stored = task
        if let existing = splitTasksById[task.id] {
            stored.request = existing.request
            stored.createdAt = existing.createdAt
        }
        splitTasksById[task.id] = stored
    }

    public func splitTask(id: String) -> SplitTaskRecord? {
        splitTasksById[id]
    }

    /// Newest first; ties by id.
    public func splitTasks() -> [SplitTaskRecord] {
        splitTasksById.values.sorted { $0.createdAt != $1.createdAt ? $0.createdAt > $1.createdAt : $0.id < $1.id }
    }

    // MARK: Access tokens

    public func putAccessToken(_ token: AccessTokenRecord) {
        // Replaced whole (the SQLite `INSERT OR REPLACE`).
        accessTokensById[token.id] = token
    }

    public func accessTokens() -> [AccessTokenRecord] {
        accessTokensById.values.sorted { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) }
    }

    public func deleteAccessToken(id: String) throws {
        guard accessTokensById.removeValue(forKey: id) != nil else { throw RegistryError.notFound(kind: "token", id: id) }
    }

    // MARK: Tasks

    public func putTask(_ task: TaskRecord) {
        record(task)
    }

    public func task(id: String) -> TaskRecord? {
        tasksById[id]
    }

    /// Newest first; ties by id. A negative `limit` means all of them, as SQL's `LIMIT -1` does.
    public func tasks(limit: Int) -> [TaskRecord] {
        let sorted = tasksById.values.sorted { $0.createdAt != $1.createdAt ? $0.createdAt > $1.createdAt : $0.id < $1.id }
        return limit < 0 ? sorted : Array(sorted.prefix(limit))
    }

    /// Inserts a task, or updates its status, result and update time (its action, subject and creation
    /// time stay), as the SQLite upsert does.
    private func record(_ task: TaskRecord) {
        guard var existing = tasksById[task.id] else {
            tasksById[task.id] = task
            return
        }
        existing.status = task.status
        existing.result = task.result
        existing.updatedAt = task.updatedAt
        tasksById[task.id] = existing
    }
}
