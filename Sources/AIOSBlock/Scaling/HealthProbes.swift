import AIOSWire
import GRPCCore
import GRPCNIOTransportHTTP2

/// The stability checker's connections: one long-lived HTTP/2 connection per instance address, reused by every
/// probe (a probe every few seconds per instance must not cost a TCP and HTTP/2 handshake each time), and
/// closed once the address is no longer an instance's.
actor HealthProbes {
    private struct Connection {
        var client: GRPCClient<HTTP2ClientTransport.Posix>
        var running: Task<Void, Never>
    }

    private var connections: [String: Connection] = [:]

    /// The instance's `Health`, or `nil` when it does not answer within `timeout` (a refused connection fails at once).
    func health(address: String, timeout: Duration) async -> Aios_Instance_V1_HealthReply? {
        guard let client = connection(to: address) else { return nil }
        var options = CallOptions.defaults
        options.timeout = timeout
        options.waitForReady = false
        return try? await Aios_Instance_V1_Instance.Client(wrapping: client).health(Aios_Instance_V1_HealthRequest(), options: options)
    }

    private func connection(to address: String) -> GRPCClient<HTTP2ClientTransport.Posix>? {
        if let open = connections[address] { return open.client }
        guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]),
              let transport = try? HTTP2ClientTransport.Posix(target: .ipv4(address: String(address[..<colon]), port: port),
                                                              transportSecurity: .plaintext) else { return nil }
        let client = GRPCClient(transport: transport)
        connections[address] = Connection(client: client, running: Task { try? await client.runConnections() })
        return client
    }

    /// Closes the connections to addresses not in `addresses`.
    func retain(_ addresses: Set<String>) {
        for (address, connection) in connections where !addresses.contains(address) {
            connection.client.beginGracefulShutdown()
            connections[address] = nil
        }
    }
}
