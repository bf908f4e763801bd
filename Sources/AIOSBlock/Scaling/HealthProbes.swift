import AIOSWire
import GRPCCore

/// The stability checker's connections: one long-lived HTTP/2 connection per instance address, reused by every
/// probe (a probe every few seconds per instance must not cost a TCP and HTTP/2 handshake each time), and
/// closed once the address is no longer an instance's.
actor HealthProbes {
    private var connections: [String: InstanceConnection] = [:]

    /// The instance's `Health`, or `nil` when it does not answer within `timeout` (a refused connection fails at once).
    func health(address: String, timeout: Duration) async -> Aios_Instance_V1_HealthReply? {
        let connection: InstanceConnection
        if let open = connections[address] {
            connection = open
        } else {
            guard let opened = try? InstanceConnection(instanceId: "health", address: address) else { return nil }
            connections[address] = opened
            connection = opened
        }
        return try? await connection.client.health(Aios_Instance_V1_HealthRequest(), options: InstanceConnection.options(timeout: timeout))
    }

    /// Closes the connections to addresses not in `addresses`.
    func retain(_ addresses: Set<String>) {
        for (address, connection) in connections where !addresses.contains(address) {
            connection.close()
            connections[address] = nil
        }
    }
}
