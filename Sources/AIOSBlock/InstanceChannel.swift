import AIOSWire

/// What a block's executor and its management commands ask of one instance: the seam between routing
/// (`BlockExecutor`) and the network. The instance protocol's gRPC client (`GRPCInstanceChannel`) is the
/// one that runs; tests put a scripted channel here to drive the executor without processes or sockets.
///
/// Failures are `RPCError`s with the instance protocol's status codes, as the gRPC client reports them:
/// `.unavailable` when the instance did not take the call (gone, refusing connections, connection lost
/// before an answer), which the executor retries once on another instance; `.deadlineExceeded` when
/// `timeout` passed; otherwise the status the instance answered with (an error in its code). A channel
/// must honour `timeout` and its caller's cancellation.
public protocol InstanceChannel: Sendable {
    /// `Infer`: the outputs of one request.
    func infer(_ packet: AIOSPacket, timeout: Duration) async throws -> [AIOSPacket]

    /// `InferStream`: each reply's outputs handed to `onOutputs` as they arrive; an error `onOutputs` throws
    /// ends the call with that error.
    func inferStream(_ packet: AIOSPacket, timeout: Duration,
                     onOutputs: @escaping @Sendable ([AIOSPacket]) async throws -> Void) async throws

    /// `Manage`: a management command with its JSON data; the instance's JSON result.
    func manage(action: String, dataJSON: String, timeout: Duration) async throws -> String

    /// `UpdateParameters`: new parameters as JSON; the instance's parameters afterwards, as JSON.
    func updateParameters(parametersJSON: String, timeout: Duration) async throws -> String

    /// Lets calls in flight finish, then closes the channel. Later calls fail with `.unavailable`.
    func close()
}

/// Opens channels to instances: one per instance, shared by every request routed to it.
public protocol InstanceTransport: Sendable {
    /// A channel to `instanceId` serving at `address` (`host:port`). Connecting may be lazy: a bad address
    /// fails here, an instance that does not listen fails the first call with `.unavailable`.
    func channel(instanceId: String, address: String) throws -> any InstanceChannel
}
