import AIOSGateway
import AIOSStore

/// The gateway's view of the block registry.
struct RegistryBlockDirectory: BlockDirectory {
    let registry: any Registry

    func status(blockId: String) async throws -> BlockStatus? {
        guard let block = try await registry.block(id: blockId) else { return nil }
        return BlockStatus(blockId: block.blockId, phase: block.phase.rawValue, reason: block.reason,
                           componentURI: block.componentURI.description, createdAt: block.createdAt.timeIntervalSince1970)
    }

    func blocks() async throws -> [BlockStatus] {
        try await registry.blocks().map { block in
            BlockStatus(blockId: block.blockId, phase: block.phase.rawValue, reason: block.reason,
                        componentURI: block.componentURI.description, createdAt: block.createdAt.timeIntervalSince1970)
        }
    }
}
