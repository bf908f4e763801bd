/// `policy.loadBalancer.least-inflight`: each request goes to the instance with the fewest requests in
/// flight (ties in turn, so idle instances share the load).
public struct LeastInFlightBalancer: LoadBalancer {
    private var next = 0

    public init() {}

    public mutating func pick(session: String, from candidates: [Candidate]) -> String {
        let fewest = candidates.map(\.inFlight).min() ?? 0
        let tied = candidates.filter { $0.inFlight == fewest }
        next = next &+ 1
        return tied[next % tied.count].instanceId
    }

    static func leastLoaded(_ candidates: [Candidate]) -> String {
        candidates.min { $0.inFlight < $1.inFlight }?.instanceId ?? candidates[0].instanceId
    }

    public var summary: [String: String] { ["policy": "least-inflight"] }
}
