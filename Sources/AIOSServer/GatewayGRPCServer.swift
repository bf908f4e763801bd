import AIOSBlock
import AIOSGateway
import GRPCCore
import GRPCNIOTransportHTTP2
import Logging
import ServiceLifecycle
import Synchronization

/// Serves the gRPC inference gateway (`BlockInferenceService`) on `--grpc-port` until graceful shutdown.
final class GatewayGRPCServer: Service, Sendable {
    private let server: GRPCServer<HTTP2ServerTransport.Posix>
    private let logger: Logger

    init(gateway: InferenceGateway, host: String, port: Int, logger: Logger) {
        var config = HTTP2ServerTransport.Posix.Config.defaults
        config.rpc.maxRequestPayloadSize = InstanceConnection.maxMessageBytes
        self.server = GRPCServer(
            transport: .http2NIOPosix(address: .ipv4(host: host, port: port), transportSecurity: .plaintext, config: config),
            services: [BlockInferenceGRPCService(gateway: gateway)])
        self.logger = logger
    }

    /// `host:port` once the server listens; throws when it cannot bind.
    var listeningAddress: String {
        get async throws {
            guard let address = try await server.listeningAddress?.ipv4 else { return "" }
            return "\(address.host):\(address.port)"
        }
    }

    func run() async throws {
        try await withGracefulShutdownHandler {
            try await server.serve()
        } onGracefulShutdown: {
            self.server.beginGracefulShutdown()
        }
    }
}
