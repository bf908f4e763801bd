/// One instance as the executor routes to it: its id, its address and the channel its calls go over.
public final class InstanceConnection: Sendable {
    public let instanceId: String
    public let address: String
    public let channel: any InstanceChannel

    /// A gRPC connection to the instance at `address` (`host:port`).
    public convenience init(instanceId: String, address: String) throws {
        try self.init(instanceId: instanceId, address: address, transport: GRPCInstanceTransport())
    }

    /// A connection over `transport`'s channel to the instance at `address`.
    public init(instanceId: String, address: String, transport: any InstanceTransport) throws {
        self.instanceId = instanceId
        self.address = address
        self.channel = try transport.channel(instanceId: instanceId, address: address)
    }

    /// Lets calls in flight finish, then closes the connection.
    public func close() {
        channel.close()
    }

    /// The largest request or reply passed through (files ride in packets).
    public static let maxMessageBytes = GRPCInstanceChannel.maxMessageBytes
}
