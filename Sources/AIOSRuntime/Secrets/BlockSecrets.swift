import AIOSModel
import Foundation

/// Seals a block's secret values (`SecretValues`) with the data directory's key when the block is created, and
/// opens them for the block's own programs (instance block files, init programs). Everything else, the registry,
/// reads, events and logs included, only ever sees the sealed form or `"***"`.
public struct BlockSecrets: Sendable {
    public let box: SecretBox

    public init(box: SecretBox) {
        self.box = box
    }

    /// The block with its secret `blockInitData` and `initSettings` values sealed, in the stored spec and in the
    /// resolved block alike.
    public func sealed(_ block: BlockRecord, component: ComponentSpec) throws -> BlockRecord {
        var declared: Set<String> = []
        for template in ["componentInitSettingsProtocol", "componentInitParametersProtocol", "componentInitDataProtocol"] {
            declared.formUnion(SecretValues.declared(in: component.section(template)))
        }
        var block = block
        block.resolved.blockInitData = try seal(block.resolved.blockInitData, declared)
        block.resolved.initSettings = try seal(block.resolved.initSettings, declared)
        for section in ["blockInitData", "initSettings"] {
            if let object = block.spec[section]?.objectValue { block.spec[section] = .object(try seal(object, declared)) }
        }
        return block
    }

    /// A value (e.g. an init program's result) with its secret-named values sealed.
    public func sealed(_ object: [String: JSONValue]) throws -> [String: JSONValue] {
        try seal(object, [])
    }

    /// The value with its sealed values opened: only for what the block's own programs receive.
    public func opened(_ value: JSONValue) throws -> JSONValue {
        try SecretValues.opened(value) { text in
            guard let data = Data(base64Encoded: text) else { throw SecretBoxError("a sealed value is not base64") }
            let json = try box.open(data)
            return JSONValue.decodeJSON(Data(json.utf8)) ?? .string(json)
        }
    }

    public func opened(_ object: [String: JSONValue]) throws -> [String: JSONValue] {
        try opened(.object(object)).objectValue ?? object
    }

    private func seal(_ object: [String: JSONValue], _ declared: Set<String>) throws -> [String: JSONValue] {
        try SecretValues.sealed(object, declared: declared) { value in
            try box.seal(value.jsonString()).base64EncodedString()
        }
    }
}
