import AIOSModel

/// Why a registry refused a change.
public enum RegistryError: Error, Sendable, Equatable, CustomStringConvertible {
    case duplicate(kind: String, id: String)
    case notFound(kind: String, id: String)

    public var description: String {
        switch self {
        case .duplicate(let kind, let id): "\(kind) \"\(id)\" already exists"
        case .notFound(let kind, let id): "\(kind) \"\(id)\" does not exist"
        }
    }
}

/// The platform's durable state: components, clusters with their nodes, blocks with their events,
/// policies and tasks. Every change that an API action makes is written in one transaction together
/// with its task record, so a rejected or interrupted action leaves nothing behind.
public protocol Registry: Sendable {
    // Components
    func addComponent(_ component: ComponentRecord, task: TaskRecord) async throws
    func component(uri: String) async throws -> ComponentRecord?
    func components() async throws -> [ComponentRecord]

    // Clusters and nodes
    func createCluster(_ cluster: ClusterSpec, task: TaskRecord) async throws
    /// Creates or replaces a cluster and all its nodes (used for the embedded `local` cluster).
    func putCluster(_ cluster: ClusterSpec) async throws
    func addNode(_ node: NodeSpec, toCluster clusterId: String, task: TaskRecord) async throws
    func cluster(id: String) async throws -> ClusterSpec?
    func clusters() async throws -> [ClusterSpec]

    // Blocks
    func createBlock(_ block: BlockRecord, event: BlockEvent, task: TaskRecord) async throws
    /// Stores a block's new state, with the event that explains it.
    func updateBlock(_ block: BlockRecord, event: BlockEvent?) async throws
    /// Decides a block's next state against the current reservations and stores it, its events and its new
    /// reservations in one transaction, so concurrent decisions never see each other half-done.
    func transition(blockId: String, _ decide: @escaping @Sendable (BlockRecord, [Reservation]) throws -> BlockTransition) async throws -> BlockTransition
    /// Removes a block with its events and reservations.
    func deleteBlock(id: String, task: TaskRecord) async throws
    func block(id: String) async throws -> BlockRecord?
    func blocks() async throws -> [BlockRecord]
    func events(blockId: String) async throws -> [BlockEvent]

    func reservations() async throws -> [Reservation]

    // Policies
    func putPolicy(_ policy: PolicyRecord) async throws
    func policy(uri: String) async throws -> PolicyRecord?
    func policies() async throws -> [PolicyRecord]
    /// Removes a policy; `RegistryError.notFound` when it does not exist.
    func deletePolicy(uri: String) async throws

    // vDAGs and their controllers
    /// Stores a new vDAG with its task; `RegistryError.duplicate` when the URI exists.
    func addVDAG(_ vdag: VDAGRecord, task: TaskRecord) async throws
    func vdag(uri: String) async throws -> VDAGRecord?
    func vdags() async throws -> [VDAGRecord]
    /// Removes a vDAG; `RegistryError.notFound` when it does not exist.
    func deleteVDAG(uri: String, task: TaskRecord) async throws
    /// Stores a new controller; `RegistryError.duplicate` when the id exists, `.notFound` when its vDAG does not.
    func addVDAGController(_ controller: VDAGControllerRecord, task: TaskRecord) async throws
    func vdagControllers() async throws -> [VDAGControllerRecord]
    /// Removes a controller; `RegistryError.notFound` when it does not exist.
    func deleteVDAGController(id: String, task: TaskRecord) async throws

    // Container registries
    /// Stores a registry (insert or replace).
    func putContainerRegistry(_ registry: RegistryRecord) async throws
    func containerRegistry(id: String) async throws -> RegistryRecord?
    func containerRegistries() async throws -> [RegistryRecord]
    /// Removes a registry; `RegistryError.notFound` when it does not exist.
    func deleteContainerRegistry(id: String) async throws

    // Split tasks
    /// Stores a split task's new state (insert or replace).
    func putSplitTask(_ task: SplitTaskRecord) async throws
    func splitTask(id: String) async throws -> SplitTaskRecord?
    /// Newest first.
    func splitTasks() async throws -> [SplitTaskRecord]

    // Access tokens
    /// Stores a token (insert or replace: the admin token is replaced when its file is made anew).
    func putAccessToken(_ token: AccessTokenRecord) async throws
    func accessTokens() async throws -> [AccessTokenRecord]
    /// Removes a token; `RegistryError.notFound` when it does not exist.
    func deleteAccessToken(id: String) async throws

    // Tasks
    func putTask(_ task: TaskRecord) async throws
    func task(id: String) async throws -> TaskRecord?
    func tasks(limit: Int) async throws -> [TaskRecord]
}
