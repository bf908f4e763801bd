import GRPCCore

/// Why a request got no answer. Every failure the gateway reports is one of these, with a message that
/// says what to do; the gRPC front maps them to status codes, the REST front to HTTP statuses.
public struct InferenceError: Error, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable {
        /// No block has that id.
        case notFound = "NOT_FOUND"
        /// The request cannot be routed, or the block refused its input.
        case invalidArgument = "INVALID_ARGUMENT"
        /// The block has no healthy instance to take the request.
        case unavailable = "UNAVAILABLE"
        /// Every instance is at its in-flight limit and the block's queue is full.
        case resourceExhausted = "RESOURCE_EXHAUSTED"
        /// No answer within the request's deadline.
        case deadlineExceeded = "DEADLINE_EXCEEDED"
        /// The block's code failed.
        case `internal` = "INTERNAL"
        /// The block does not provide the method.
        case unimplemented = "UNIMPLEMENTED"
        case cancelled = "CANCELLED"
        /// The request body is larger than the gateway accepts.
        case payloadTooLarge = "PAYLOAD_TOO_LARGE"
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue): \(message)" }

    public var rpcCode: RPCError.Code {
        switch code {
        case .notFound: .notFound
        case .invalidArgument: .invalidArgument
        case .unavailable: .unavailable
        case .resourceExhausted: .resourceExhausted
        case .deadlineExceeded: .deadlineExceeded
        case .internal: .internalError
        case .unimplemented: .unimplemented
        case .cancelled: .cancelled
        case .payloadTooLarge: .resourceExhausted
        }
    }

    public var rpcError: RPCError { RPCError(code: rpcCode, message: message) }

    /// The HTTP status the REST front answers with.
    public var httpStatus: Int {
        switch code {
        case .notFound: 404
        case .invalidArgument: 400
        case .unavailable: 503
        case .resourceExhausted: 429
        case .deadlineExceeded: 504
        case .internal: 500
        case .unimplemented: 501
        case .cancelled: 499
        case .payloadTooLarge: 413
        }
    }

    /// An instance's error, as the gateway passes it on.
    init(instance instanceId: String, _ error: RPCError) {
        switch error.code {
        case .invalidArgument: self.init(.invalidArgument, error.message)
        case .deadlineExceeded: self.init(.deadlineExceeded, "instance \(instanceId) did not answer in time: \(error.message)")
        case .unimplemented: self.init(.unimplemented, error.message)
        case .resourceExhausted: self.init(.resourceExhausted, "instance \(instanceId): \(error.message)")
        case .cancelled: self.init(.cancelled, error.message)
        case .unavailable: self.init(.unavailable, "instance \(instanceId) is unavailable: \(error.message)")
        default: self.init(.internal, error.message)
        }
    }
}
