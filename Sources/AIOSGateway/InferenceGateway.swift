import AIOSBlock
import AIOSModel
import AIOSWire
import Logging

/// What the gateway needs to know about blocks beyond their executors: whether a block exists (to tell
/// `NOT_FOUND` from `UNAVAILABLE`) and which blocks there are (`GET /v1/models`).
public protocol BlockDirectory: Sendable {
    /// The block's phase and reason, or `nil` when no block has that id; throws when the directory cannot
    /// tell (so a registry failure is never reported as "no such block").
    func status(blockId: String) async throws -> BlockStatus?
    func blocks() async throws -> [BlockStatus]
}

public struct BlockStatus: Sendable {
    public var blockId: String
    public var phase: String
    public var reason: String?
    public var componentURI: String
    public var createdAt: Double

    public init(blockId: String, phase: String, reason: String?, componentURI: String, createdAt: Double) {
        self.blockId = blockId
        self.phase = phase
        self.reason = reason
        self.componentURI = componentURI
        self.createdAt = createdAt
    }
}

/// The inference front shared by the gRPC, REST and OpenAI-compatible surfaces: finds the block's executor
/// and turns "no executor" into `NOT_FOUND` or `UNAVAILABLE` with the block's phase.
public struct InferenceGateway: Sendable {
    public let executors: Executors
    public let directory: any BlockDirectory
    let logger: Logger

    public init(executors: Executors, directory: any BlockDirectory, logger: Logger) {
        self.executors = executors
        self.directory = directory
        self.logger = logger
    }

    /// `headers` are the request's `x-` headers (`RequestView.policyHeaders`), for a custom load balancer.
    public func infer(blockId: String, packet: AIOSPacket, clientTimeout: Duration?, headers: [String: String] = [:]) async throws(InferenceError) -> [AIOSPacket] {
        do throws(InferenceError) {
            let executor = try await executor(blockId)
            do throws(InferenceError) {
                return try await executor.infer(packet, headers: headers, deadline: executor.deadline(clientTimeout: clientTimeout))
            } catch {
                throw await explained(error, blockId: blockId)
            }
        } catch {
            log(error, blockId: blockId, session: packet.sessionID)
            throw error
        }
    }

    public func inferStream(blockId: String, packet: AIOSPacket, clientTimeout: Duration?, headers: [String: String] = [:],
                            onOutputs: @escaping @Sendable ([AIOSPacket]) async throws -> Void) async throws(InferenceError) {
        do throws(InferenceError) {
            let executor = try await executor(blockId)
            do throws(InferenceError) {
                try await executor.inferStream(packet, headers: headers, deadline: executor.deadline(clientTimeout: clientTimeout), onOutputs: onOutputs)
            } catch {
                throw await explained(error, blockId: blockId)
            }
        } catch {
            log(error, blockId: blockId, session: packet.sessionID)
            throw error
        }
    }

    /// Failures the platform should hear about (the block's or the platform's) are warnings; the client's
    /// own mistakes are debug lines.
    private func log(_ error: InferenceError, blockId: String, session: String) {
        let metadata: Logger.Metadata = ["blockId": "\(blockId)", "sessionId": "\(session)", "code": "\(error.code.rawValue)", "error": "\(error.message)"]
        switch error.code {
        case .notFound, .invalidArgument, .cancelled: logger.debug("inference request refused", metadata: metadata)
        default: logger.warning("inference request failed", metadata: metadata)
        }
    }

    /// Fails as `infer` would before any instance is called (unknown block, no healthy instance): a
    /// streaming reply checks this before it commits to a 200 and an event stream.
    public func preflight(blockId: String) async throws(InferenceError) {
        let executor = try await executor(blockId)
        if executor.instanceIds.isEmpty {
            throw await explained(InferenceError(.unavailable, "block \(blockId) has no healthy instance"), blockId: blockId)
        }
    }

    private func executor(_ blockId: String) async throws(InferenceError) -> BlockExecutor {
        guard !blockId.isEmpty else {
            throw InferenceError(.invalidArgument, "block_id is empty: give the id of the block to infer with (searching blocks by query_parameters is not supported)")
        }
        if let executor = executors.executor(for: blockId) { return executor }
        guard let status = try await status(blockId) else {
            throw InferenceError(.notFound, "no block has id \"\(blockId)\"")
        }
        throw Self.unavailable(status)
    }

    private func status(_ blockId: String) async throws(InferenceError) -> BlockStatus? {
        do {
            return try await directory.status(blockId: blockId)
        } catch {
            throw InferenceError(.internal, "cannot look up block \(blockId): \(error)")
        }
    }

    /// "No healthy instance" says what the block is doing (when the directory can tell).
    private func explained(_ error: InferenceError, blockId: String) async -> InferenceError {
        guard error.code == .unavailable, executors.executor(for: blockId)?.instanceIds.isEmpty ?? true,
              let status = try? await directory.status(blockId: blockId) else { return error }
        return Self.unavailable(status)
    }

    static func unavailable(_ status: BlockStatus) -> InferenceError {
        InferenceError(.unavailable, "block \(status.blockId) has no healthy instance (phase \(status.phase)\(status.reason.map { ": \($0)" } ?? ""))")
    }
}
