import AIOSModel
import AIOSWire
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2

/// Calls an instance's gRPC protocol at `host:port`, with a deadline on every call.
public enum InstanceClient {
    public struct BadAddress: Error, CustomStringConvertible {
        public var address: String
        public var description: String { "not a host:port address: \(address)" }
    }

    /// Runs `body` with a client connected to `address`; the connection closes afterwards.
    public static func with<Result: Sendable>(
        address: String,
        _ body: (Aios_Instance_V1_Instance.Client<HTTP2ClientTransport.Posix>) async throws -> Result
    ) async throws -> Result {
        guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]) else {
            throw BadAddress(address: address)
        }
        let host = String(address[..<colon])
        let transport = try HTTP2ClientTransport.Posix(
            target: .ipv4(address: host, port: port),
            transportSecurity: .plaintext)
        return try await withGRPCClient(transport: transport) { client in
            try await body(Aios_Instance_V1_Instance.Client(wrapping: client))
        }
    }

    public static func options(timeout: Duration) -> CallOptions {
        var options = CallOptions.defaults
        options.timeout = timeout
        return options
    }

    /// The instance's health, or `nil` when it does not answer within `timeout`. A refused connection fails
    /// at once instead of waiting for the instance to come up.
    public static func health(address: String, timeout: Duration = .seconds(1)) async -> Aios_Instance_V1_HealthReply? {
        var callOptions = options(timeout: timeout)
        callOptions.waitForReady = false
        let request = Aios_Instance_V1_HealthRequest()
        let probeOptions = callOptions
        return try? await with(address: address) { client in
            try await client.health(request, options: probeOptions)
        }
    }
}

extension InstanceClient {
    /// Why an instance whose `Health` answered something other than `healthy` is unhealthy, in words.
    public static func unhealthyReason(_ reply: Aios_Instance_V1_HealthReply) -> String? {
        guard reply.status != "healthy" else { return nil }
        var reason = "Health answered \"\(reply.status)\""
        if !reply.detailsJson.isEmpty, let details = JSONValue.decodeJSON(Data(reply.detailsJson.utf8)) {
            let detail = details["error"]?.stringValue ?? details.jsonString()
            reason += ": " + String(detail.prefix(300))
        }
        return reason
    }
}
