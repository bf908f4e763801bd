import AIOSWire
import GRPCCore
import GRPCNIOTransportHTTP2

/// A long-lived HTTP/2 connection to one instance, shared by every request routed to it. Calls fail fast
/// (`waitForReady` off) when the instance is gone, so the executor can retry elsewhere instead of waiting.
public final class InstanceConnection: Sendable {
    public let instanceId: String
    public let address: String
    let client: Aios_Instance_V1_Instance.Client<HTTP2ClientTransport.Posix>
    private let grpcClient: GRPCClient<HTTP2ClientTransport.Posix>
    private let running: Task<Void, Never>

    public init(instanceId: String, address: String) throws {
        guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]) else {
            throw InferenceError(.internal, "instance \(instanceId) has no host:port address (\(address))")
        }
        let config = HTTP2ClientTransport.Posix.Config.defaults
        let transport = try HTTP2ClientTransport.Posix(
            target: .ipv4(address: String(address[..<colon]), port: port),
            transportSecurity: .plaintext, config: config)
        let grpcClient = GRPCClient(transport: transport)
        self.instanceId = instanceId
        self.address = address
        self.grpcClient = grpcClient
        self.client = Aios_Instance_V1_Instance.Client(wrapping: grpcClient)
        self.running = Task { try? await grpcClient.runConnections() }
    }

    /// Lets calls in flight finish, then closes the connection.
    public func close() {
        grpcClient.beginGracefulShutdown()
    }

    /// The largest request or reply passed through (files ride in packets).
    public static let maxMessageBytes = 64 * 1024 * 1024

    static func options(timeout: Duration) -> CallOptions {
        var options = CallOptions.defaults
        options.timeout = timeout
        options.waitForReady = false
        options.maxRequestMessageBytes = maxMessageBytes
        options.maxResponseMessageBytes = maxMessageBytes
        return options
    }
}
