import AIOSWire
import GRPCCore
import GRPCNIOTransportHTTP2

/// Opens a `GRPCInstanceChannel` per instance: the transport blocks use unless a test says otherwise.
public struct GRPCInstanceTransport: InstanceTransport {
    public init() {}

    public func channel(instanceId: String, address: String) throws -> any InstanceChannel {
        try GRPCInstanceChannel(instanceId: instanceId, address: address)
    }
}

/// A long-lived HTTP/2 connection to one instance's gRPC server, shared by every request routed to it.
/// Calls fail fast (`waitForReady` off) when the instance is gone, so the executor can retry elsewhere
/// instead of waiting.
public final class GRPCInstanceChannel: InstanceChannel {
    private let client: Aios_Instance_V1_Instance.Client<HTTP2ClientTransport.Posix>
    private let grpcClient: GRPCClient<HTTP2ClientTransport.Posix>
    private let running: Task<Void, Never>

    /// The largest request or reply passed through (files ride in packets).
    public static let maxMessageBytes = 64 * 1024 * 1024

    public init(instanceId: String, address: String) throws {
        guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]) else {
            throw InferenceError(.internal, "instance \(instanceId) has no host:port address (\(address))")
        }
        let transport = try HTTP2ClientTransport.Posix(
            target: .ipv4(address: String(address[..<colon]), port: port),
            transportSecurity: .plaintext, config: .defaults)
        let grpcClient = GRPCClient(transport: transport)
        self.grpcClient = grpcClient
        self.client = Aios_Instance_V1_Instance.Client(wrapping: grpcClient)
        self.running = Task { try? await grpcClient.runConnections() }
    }

    public func infer(_ packet: AIOSPacket, timeout: Duration) async throws -> [AIOSPacket] {
        try await client.infer(Self.request(packet), options: Self.options(timeout: timeout)).outputs
    }

    public func inferStream(_ packet: AIOSPacket, timeout: Duration,
                            onOutputs: @escaping @Sendable ([AIOSPacket]) async throws -> Void) async throws {
        try await client.inferStream(Self.request(packet), options: Self.options(timeout: timeout)) { response in
            for try await reply in response.messages {
                try await onOutputs(reply.outputs)
            }
        }
    }

    public func manage(action: String, dataJSON: String, timeout: Duration) async throws -> String {
        var request = Aios_Instance_V1_ManageRequest()
        request.action = action
        request.dataJson = dataJSON
        return try await client.manage(request, options: Self.options(timeout: timeout)).resultJson
    }

    public func updateParameters(parametersJSON: String, timeout: Duration) async throws -> String {
        var request = Aios_Instance_V1_UpdateParametersRequest()
        request.parametersJson = parametersJSON
        return try await client.updateParameters(request, options: Self.options(timeout: timeout)).parametersJson
    }

    public func close() {
        grpcClient.beginGracefulShutdown()
    }

    private static func request(_ packet: AIOSPacket) -> Aios_Instance_V1_InferRequest {
        var request = Aios_Instance_V1_InferRequest()
        request.packet = packet
        return request
    }

    static func options(timeout: Duration) -> CallOptions {
        var options = CallOptions.defaults
        options.timeout = timeout
        options.waitForReady = false
        options.maxRequestMessageBytes = maxMessageBytes
        options.maxResponseMessageBytes = maxMessageBytes
        return options
    }
}
