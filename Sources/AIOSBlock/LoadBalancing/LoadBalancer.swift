/// An instance the balancer may choose: healthy, not already tried for this request.
public struct Candidate: Sendable, Equatable {
    public var instanceId: String
    public var inFlight: Int
    /// Below its in-flight limit: a request sent now starts at once instead of queueing.
    public var hasCapacity: Bool

    public init(instanceId: String, inFlight: Int, hasCapacity: Bool) {
        self.instanceId = instanceId
        self.inFlight = inFlight
        self.hasCapacity = hasCapacity
    }
}

/// Chooses the instance for a request. Called under the executor's lock: implementations are plain,
/// synchronous state machines.
public protocol LoadBalancer {
    /// The instance for a request of `session` (empty when the client gave none), from `candidates`
    /// (never empty, in the order instances joined).
    mutating func pick(session: String, from candidates: [Candidate]) -> String

    /// `instanceId` left the block: forget what was bound to it.
    mutating func instanceLeft(_ instanceId: String)

    /// What the balancer is and holds, for `aios describe` and management commands.
    var summary: [String: String] { get }
}

extension LoadBalancer {
    public mutating func instanceLeft(_ instanceId: String) {}
}

extension Array where Element == Candidate {
    /// The candidates that can start a request now, or all of them when none can.
    var preferringCapacity: [Candidate] {
        let free = filter(\.hasCapacity)
        return free.isEmpty ? self : free
    }
}
