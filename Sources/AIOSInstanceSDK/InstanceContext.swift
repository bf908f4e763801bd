import AIOSModel
import Foundation

/// What an instance knows about itself, from the environment the runtime gives it:
/// `AIOS_BLOCK_ID`, `AIOS_INSTANCE_ID`, `AIOS_LISTEN`, and the block file at `AIOS_BLOCK_FILE`.
public struct InstanceContext: Sendable {
    public struct Allocation: Sendable, Equatable {
        public var clusterId: String
        public var nodeId: String
        public var gpus: [String]
    }

    public var blockId: String
    public var instanceId: String
    public var componentURI: String
    /// `host:port` to serve on.
    public var listen: String
    public var blockInitData: [String: JSONValue]
    public var initSettings: [String: JSONValue]
    /// The parameters at start; `InstanceBlock.update(parameters:)` receives later changes.
    public var parameters: [String: JSONValue]
    public var allocation: Allocation
    /// The whole block file.
    public var blockFile: JSONValue

    public struct Missing: Error, CustomStringConvertible {
        public var description: String
    }

    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) throws -> InstanceContext {
        func require(_ name: String) throws -> String {
            guard let value = environment[name], !value.isEmpty else {
                throw Missing(description: "\(name) is not set: instances are started by the aios runtime, which sets AIOS_BLOCK_ID, AIOS_INSTANCE_ID, AIOS_LISTEN and AIOS_BLOCK_FILE")
            }
            return value
        }
        let path = try require("AIOS_BLOCK_FILE")
        guard let data = FileManager.default.contents(atPath: path), let file = JSONValue.decodeJSON(data) else {
            throw Missing(description: "AIOS_BLOCK_FILE \(path) cannot be read as JSON")
        }
        let allocation = file["allocation"] ?? [:]
        return InstanceContext(
            blockId: try require("AIOS_BLOCK_ID"),
            instanceId: try require("AIOS_INSTANCE_ID"),
            componentURI: file["componentURI"]?.stringValue ?? "",
            listen: try require("AIOS_LISTEN"),
            blockInitData: file["blockInitData"]?.objectValue ?? [:],
            initSettings: file["initSettings"]?.objectValue ?? [:],
            parameters: file["parameters"]?.objectValue ?? [:],
            allocation: Allocation(
                clusterId: allocation["clusterId"]?.stringValue ?? "",
                nodeId: allocation["nodeId"]?.stringValue ?? "",
                gpus: allocation["gpus"]?.arrayValue?.compactMap(\.stringValue) ?? []),
            blockFile: file)
    }
}
