import AIOSModel
import AIOSPolicy
import Synchronization

/// Every block's executor in this process, kept current by the instance runtime: a block gets its executor
/// when its instances are started, instances join it when they answer `Health` and leave it when they
/// exit, and it is closed when the block is removed.
public final class Executors: Sendable {
    private let executors = Mutex<[String: BlockExecutor]>([:])
    /// How every block's executor reaches its instances.
    public let transport: any InstanceTransport
    /// Registered custom policies: a block whose `loadBalancer` names one asks it per request.
    public let policies: CustomPolicies?

    /// Executors that reach instances over `transport` (gRPC unless a test says otherwise).
    public init(transport: any InstanceTransport = GRPCInstanceTransport(), policies: CustomPolicies? = nil) {
        self.transport = transport
        self.policies = policies
    }

    public func executor(for blockId: String) -> BlockExecutor? {
        executors.withLock { $0[blockId] }
    }

    /// Creates the block's executor, or applies new settings to the one it has. Returns the executor and
    /// whether it is new.
    @discardableResult
    public func configure(blockId: String, settings: ExecutorSettings) -> (BlockExecutor, isNew: Bool) {
        executors.withLock { executors in
            if let existing = executors[blockId] {
                existing.update(settings: settings)
                return (existing, false)
            }
            let executor = BlockExecutor(blockId: blockId, settings: settings, transport: transport)
            executors[blockId] = executor
            return (executor, true)
        }
    }

    /// Routes to a ready instance of a block that has an executor (one that is being removed has none).
    public func instanceReady(blockId: String, instanceId: String, address: String) throws {
        try executor(for: blockId)?.instanceReady(instanceId, address: address)
    }

    /// Takes an instance that reports itself unhealthy out of rotation (`reason`), or puts it back (`nil`).
    @discardableResult
    public func setUnhealthy(blockId: String, instanceId: String, reason: String?) -> Bool {
        executor(for: blockId)?.setUnhealthy(instanceId, reason: reason) ?? false
    }

    public func instanceGone(blockId: String, instanceId: String) {
        executor(for: blockId)?.instanceGone(instanceId)
    }

    /// The block is removed (or the platform stops): requests waiting on it fail with `reason`.
    public func remove(blockId: String, reason: String) {
        let executor = executors.withLock { $0.removeValue(forKey: blockId) }
        executor?.close(reason: InferenceError(.unavailable, reason))
    }

    public func removeAll(reason: String) {
        let all = executors.withLock { executors in
            defer { executors.removeAll() }
            return Array(executors.values)
        }
        for executor in all { executor.close(reason: InferenceError(.unavailable, reason)) }
    }
}
