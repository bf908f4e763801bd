import AIOSModel
import AIOSWire
import Foundation

/// One entry of work after preprocessing: the packet it came from, extra data, and its session.
public struct PreprocessResult: Sendable {
    public var packet: AIOSPacket
    public var extraData: JSONValue
    public var sessionId: String

    public init(packet: AIOSPacket, extraData: JSONValue = .null, sessionId: String? = nil) {
        self.packet = packet
        self.extraData = extraData
        self.sessionId = sessionId ?? packet.sessionID
    }

    /// The packet's `data` as JSON (`nil` when it is not JSON).
    public var json: JSONValue? {
        JSONValue.decodeJSON(Data(packet.data.utf8))
    }
}

/// What `health()` answers: `healthy`, or anything else to be taken out of rotation.
public struct HealthStatus: Sendable {
    public var status: String
    public var details: JSONValue

    public init(status: String = "healthy", details: JSONValue = [:]) {
        self.status = status
        self.details = details
    }

    public static let healthy = HealthStatus()
}

/// An error a block throws to choose the gRPC status its caller sees (anything else is `INTERNAL`).
public struct InstanceError: Error, CustomStringConvertible {
    public enum Kind: Sendable {
        case invalidArgument, failedPrecondition, unavailable, unimplemented, internalError
    }

    public var kind: Kind
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}

/// A block written in Swift. Implement `infer` (and whatever else you need); `InstanceMain.run(MyBlock.self)`
/// serves it over the instance protocol.
public protocol InstanceBlock: Sendable {
    init(context: InstanceContext) async throws
    /// Splits or rewrites a packet into entries; by default the packet is one entry.
    func preprocess(_ packet: AIOSPacket) async throws -> [PreprocessResult]
    /// The output for one entry (becomes the output packet's `data`), or `nil` for none (a batch filling).
    func infer(_ entry: PreprocessResult) async throws -> JSONValue?
    /// A stream of outputs for one entry (token streams), or `nil` when the block does not stream.
    func inferStream(_ entry: PreprocessResult) -> AsyncThrowingStream<JSONValue, any Error>?
    /// Called after new parameters are merged in; the answer is passed back to the caller.
    func update(parameters: [String: JSONValue]) async throws -> JSONValue
    func health() async -> HealthStatus
    /// A management command.
    func manage(action: String, data: JSONValue) async throws -> JSONValue
}

extension InstanceBlock {
    public func preprocess(_ packet: AIOSPacket) async throws -> [PreprocessResult] {
        [PreprocessResult(packet: packet)]
    }

    public func inferStream(_ entry: PreprocessResult) -> AsyncThrowingStream<JSONValue, any Error>? { nil }

    public func update(parameters: [String: JSONValue]) async throws -> JSONValue { .object(parameters) }

    public func health() async -> HealthStatus { .healthy }

    public func manage(action: String, data: JSONValue) async throws -> JSONValue {
        throw InstanceError(.unimplemented, "this block has no management command \"\(action)\"")
    }
}
