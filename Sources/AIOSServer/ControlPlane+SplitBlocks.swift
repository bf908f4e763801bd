import AIOSModel
import AIOSSplits

/// Split tasks deploy their plans' blocks through the control plane's own block actions.
extension ControlPlane: SplitBlocks {
    public func createBlock(values: [String: JSONValue]) async throws -> JSONValue {
        try await createBlock(.object(values)).result
    }

    public func removeBlock(id: String, force: Bool) async throws {
        _ = try await removeBlock(["blockId": .string(id), "force": .bool(force)])
    }
}
