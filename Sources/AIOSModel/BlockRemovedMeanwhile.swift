/// A change to a block was refused because the block is being removed (or was removed) while the change was
/// under way: the removal wins, and the change is dropped.
public struct BlockRemovedMeanwhile: Error, Sendable, CustomStringConvertible {
    public var blockId: String

    public init(blockId: String) {
        self.blockId = blockId
    }

    public var description: String { "block \"\(blockId)\" was removed while the change was under way" }
}
