import GRPCCore
import GRPCNIOTransportHTTP2

/// How every gRPC server of the platform (the gateway, vDAG controllers) is secured: its interceptors (the bearer
/// token check) and its transport (TLS when `aios up` has a certificate).
public struct GRPCServerSecurity: Sendable {
    public var interceptors: [any ServerInterceptor]
    public var transport: HTTP2ServerTransport.Posix.TransportSecurity

    public init(interceptors: [any ServerInterceptor], transport: HTTP2ServerTransport.Posix.TransportSecurity) {
        self.interceptors = interceptors
        self.transport = transport
    }

    public static let none = GRPCServerSecurity(interceptors: [], transport: .plaintext)

    /// A server for `services` on `host:port` with the platform's limits and this security.
    public func server(host: String, port: Int, maxRequestBytes: Int, services: [any RegistrableRPCService]) -> GRPCServer<HTTP2ServerTransport.Posix> {
        var config = HTTP2ServerTransport.Posix.Config.defaults
        config.rpc.maxRequestPayloadSize = maxRequestBytes
        // Connections that carry no RPC are closed, so idle or half-open clients cannot pile up.
        config.connection.maxIdleTime = .seconds(300)
        return GRPCServer(
            transport: .http2NIOPosix(address: .ipv4(host: host, port: port), transportSecurity: transport, config: config),
            services: services, interceptors: interceptors)
    }
}
