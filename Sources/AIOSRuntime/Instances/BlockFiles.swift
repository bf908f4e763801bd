import AIOSModel
import Foundation

/// The files the platform keeps for a block's instances under the data directory: block files
/// (`instances/<block>/<instance>.json`, holding the block's opened secrets, so they go with the block) and logs
/// (`logs/<block>/<instance>.log`).
public struct BlockFiles: Sendable {
    public let dataDirectory: URL
    /// Opens the block's sealed secrets for its block file.
    public let secrets: BlockSecrets?

    public init(dataDirectory: URL, secrets: BlockSecrets?) {
        self.dataDirectory = dataDirectory
        self.secrets = secrets
    }

    public func logFile(_ blockId: String, _ instanceId: String) -> URL {
        dataDirectory.appendingPathComponent("logs/\(blockId)/\(instanceId).log")
    }

    /// Creates the instance's log file (and its directory) unless it exists.
    public func createLog(_ blockId: String, _ instanceId: String) throws -> String {
        let path = logFile(blockId, instanceId).path
        let fileManager = FileManager.default
        try fileManager.createDirectory(at: URL(fileURLWithPath: path).deletingLastPathComponent(), withIntermediateDirectories: true)
        if !fileManager.fileExists(atPath: path) { fileManager.createFile(atPath: path, contents: nil) }
        return path
    }

    /// Writes the instance's `AIOS_BLOCK_FILE`: its block data, settings, parameters, policies and allocation.
    @discardableResult
    public func writeBlockFile(_ block: BlockRecord, placement: BlockPlacement.Instance, simulated: Bool) throws -> URL {
        let blockDirectory = dataDirectory.appendingPathComponent("instances/\(block.blockId)")
        try FileManager.default.createDirectory(at: blockDirectory, withIntermediateDirectories: true)
        let clusterId = block.placement.clusterId ?? ""
        let blockFile: JSONValue = [
            "blockId": .string(block.blockId), "instanceId": .string(placement.instanceId),
            "componentURI": .string(block.componentURI.description),
            "blockInitData": .object(try opened(block.resolved.blockInitData)), "initSettings": .object(try opened(block.resolved.initSettings)),
            "parameters": .object(block.resolved.parameters), "policies": .object(block.resolved.policies),
            "allocation": ["clusterId": .string(clusterId), "nodeId": .string(placement.nodeId), "gpus": .array(placement.gpus.map(JSONValue.string))],
            "simulated": .bool(simulated),
        ]
        let path = blockDirectory.appendingPathComponent("\(placement.instanceId).json")
        try blockFile.jsonData(pretty: true).write(to: path, options: .atomic)
        return path
    }

    private func opened(_ object: [String: JSONValue]) throws -> [String: JSONValue] {
        try secrets?.opened(object) ?? object
    }

    /// After the block's record is gone: its block files go, and its logs unless `keepLogs`.
    public func remove(blockId: String, keepLogs: Bool) {
        let manager = FileManager.default
        try? manager.removeItem(at: dataDirectory.appendingPathComponent("instances/\(blockId)"))
        if !keepLogs { try? manager.removeItem(at: dataDirectory.appendingPathComponent("logs/\(blockId)")) }
        try? manager.removeItem(at: dataDirectory.appendingPathComponent("run/instances/\(blockId)"))
    }
}
