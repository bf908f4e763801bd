import AIOSModel

/// Places more instances of a running block (the autoscaler's and `scale`'s scale-up): the control plane's
/// placement, against the reservation ledger.
public protocol InstancePlacing: Sendable {
    /// Places `count` more instances; returns the block as stored with them (`nil` when none could be placed)
    /// and what happened, in words.
    func addInstances(to block: BlockRecord, count: Int, reason: String) async throws -> (BlockRecord?, String)
}
