import AIOSModel
import AIOSWire
import Foundation

/// What a request looks like to a custom load balancer: AIOS's packet fields and the request's `x-` headers.
public struct RequestView: Sendable {
    public var packet: AIOSPacket
    public var headers: [String: String]

    public init(packet: AIOSPacket, headers: [String: String] = [:]) {
        self.packet = packet
        self.headers = headers
    }

    /// At most this many headers, each at most `maxHeaderBytes`, reach a policy.
    public static let maxHeaders = 32
    public static let maxHeaderBytes = 1024

    /// The `x-` headers of a request, lower-cased and bounded (the rest are not a policy's business).
    public static func policyHeaders(_ pairs: some Sequence<(String, String)>) -> [String: String] {
        var headers: [String: String] = [:]
        for (name, value) in pairs where headers.count < maxHeaders {
            let name = name.lowercased()
            guard name.hasPrefix("x-"), name.utf8.count <= 128, value.utf8.count <= maxHeaderBytes else { continue }
            headers[name] = value
        }
        return headers
    }

    /// AIOS's `packet` input: `session_id`, `seq_no`, `ts`, `data` (parsed when it is JSON), `headers`.
    public var json: JSONValue {
        ["session_id": .string(packet.sessionID), "seq_no": .number(Double(packet.seqNo)), "ts": .number(packet.ts),
         "data": packet.data.utf8.count <= 65_536 ? (JSONValue.decodeJSON(Data(packet.data.utf8)) ?? .string(packet.data)) : .null,
         "headers": .object(headers.mapValues(JSONValue.string))]
    }
}

/// A load-balancing decision made outside the executor's lock (a custom policy in its worker): the preferred
/// instance among the ready ones, or `nil` to let the built-in balancer pick.
public protocol InstanceChooser: Sendable {
    func choose(_ request: RequestView, among instances: [String]) async -> String?
}
