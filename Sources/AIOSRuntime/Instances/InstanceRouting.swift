import AIOSModel

/// Where requests to a block's instances are routed (the block executors): the instance runtime tells it
/// when instances can take requests and when they cannot.
public protocol InstanceRouting: Sendable {
    /// Readies routing for a block whose instances start, with the routing its spec asks for. Returns a note
    /// for the block's events when its routing is new and differs from what the block asked.
    func prepare(_ block: BlockRecord) -> String?
    /// The instance answers `Health` at `address`: requests may go to it (not while `unhealthyReason` is set).
    func instanceReady(blockId: String, instanceId: String, address: String, unhealthyReason: String?) throws
    /// The instance reports itself unhealthy (`reason`) or healthy again (`nil`); `true` when that changed.
    @discardableResult
    func setUnhealthy(blockId: String, instanceId: String, reason: String?) -> Bool
    /// The instance is gone or going: no requests go to it.
    func instanceGone(blockId: String, instanceId: String)
    /// The block is removed: requests waiting on it fail with `reason`.
    func remove(blockId: String, reason: String)
    func removeAll(reason: String)
}
