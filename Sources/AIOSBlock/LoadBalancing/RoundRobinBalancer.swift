/// `policy.loadBalancer.roundrobin`: requests go to instances in turn, skipping instances at their
/// in-flight limit while others have room. With `cacheSessions`, a session's first request binds it to an
/// instance (a bounded LRU of `sessionCacheSize` sessions) and it stays there while that instance is
/// healthy; when the instance leaves, only its sessions are bound anew.
public struct RoundRobinBalancer: LoadBalancer {
    public let cacheSessions: Bool
    private var sessions: SessionCache
    private var next = 0

    public init(cacheSessions: Bool, sessionCacheSize: Int) {
        self.cacheSessions = cacheSessions
        self.sessions = SessionCache(capacity: sessionCacheSize)
    }

    public mutating func pick(session: String, from candidates: [Candidate]) -> String {
        if cacheSessions, !session.isEmpty, let bound = sessions.instance(for: session),
           candidates.contains(where: { $0.instanceId == bound }) {
            return bound
        }
        let pool = candidates.preferringCapacity
        let chosen = pool[next % pool.count].instanceId
        next = next &+ 1
        if cacheSessions, !session.isEmpty { sessions.bind(session, to: chosen) }
        return chosen
    }

    public mutating func instanceLeft(_ instanceId: String) {
        sessions.unbind(instance: instanceId)
    }

    public var summary: [String: String] {
        ["policy": "roundrobin", "cacheSessions": "\(cacheSessions)", "cachedSessions": "\(sessions.count)",
         "sessionCacheSize": "\(sessions.capacity)"]
    }
}
