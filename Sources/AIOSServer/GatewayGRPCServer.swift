import AIOSBlock
import AIOSGateway
import AIOSVDAG
import AIOSWire
import GRPCCore
import GRPCNIOTransportHTTP2
import Logging
import ServiceLifecycle
import Synchronization

/// Serves the gRPC inference gateway (`BlockInferenceService`) on `--grpc-port` until graceful shutdown.
final class GatewayGRPCServer: Service, Sendable {
    private let server: GRPCServer<HTTP2ServerTransport.Posix>
    private let logger: Logger

    init(gateway: InferenceGateway, host: String, port: Int, security: GRPCServerSecurity, logger: Logger) {
        self.server = security.server(host: host, port: port, maxRequestBytes: InstanceConnection.maxMessageBytes,
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
