/// Why a custom policy did not decide. The built-in decides instead, and the block's events say this.
public struct PolicyFailure: Error, Sendable, CustomStringConvertible {
    public enum Reason: String, Sendable {
        /// No reply within the call's deadline: the worker was killed and will be restarted.
        case deadline
        /// The worker exited or broke the protocol (a crash, a limit, a killed sandbox).
        case died
        /// The worker could not be started or the policy not constructed (`import`/`init` errors included).
        case start
        /// The policy raised, or returned something that is not JSON.
        case error
        /// The result has the wrong shape for its kind, or names what cannot be (an unknown instance, a taken GPU).
        case output
        /// The worker is restarting after failures, or too many calls are waiting for it.
        case unavailable
    }

    public var reason: Reason
    public var message: String
    /// The result field at fault, for `.output`.
    public var field: String?

    public init(_ reason: Reason, _ message: String, field: String? = nil) {
        self.reason = reason
        self.message = message
        self.field = field
    }

    public var description: String {
        field.map { "\(reason.rawValue): \($0): \(message)" } ?? "\(reason.rawValue): \(message)"
    }
}
