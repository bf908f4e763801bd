import AIOSModel

/// How split tasks create and remove the blocks of a plan they deploy: the control plane's own block
/// actions, with their validation, placement and events.
public protocol SplitBlocks: Sendable {
    /// Creates a block from its spec `values`; returns the block as `createBlock` reports it
    /// (`{"blockId", "phase", "reason"?, "report"?, ...}`).
    func createBlock(values: [String: JSONValue]) async throws -> JSONValue
    /// Removes a block (`force`: even when its third-party system cannot be torn down).
    func removeBlock(id: String, force: Bool) async throws
}
