import AIOSModel

/// The session-aware policy (`policy.loadBalancer.session-aware-llm`): rendezvous (highest-random-weight)
/// hashing of the session over the healthy instances. A session stays on its instance while that instance
/// is healthy, with no table to lose or bound; when an instance leaves, only its sessions move; when one
/// joins, only the ~1/N of sessions it now wins move to it. Requests without a session go to the least
/// loaded instance.
public struct ConsistentHashBalancer: LoadBalancer {
    public init() {}

    public mutating func pick(session: String, from candidates: [Candidate]) -> String {
        guard !session.isEmpty else {
            return LeastInFlightBalancer.leastLoaded(candidates)
        }
        let sessionHash = StableHash.of(session)
        var best = candidates[0].instanceId
        var bestScore = UInt64.min
        for candidate in candidates {
            let score = SplitMix64.mix(sessionHash ^ StableHash.of(candidate.instanceId))
            if score >= bestScore {
                best = candidate.instanceId
                bestScore = score
            }
        }
        return best
    }

    public var summary: [String: String] { ["policy": "session-aware (rendezvous hashing)"] }
}

/// A hash that is the same in every process and run (Swift's `Hasher` is seeded per process).
enum StableHash {
    /// FNV-1a over the UTF-8 bytes, then mixed.
    static func of(_ text: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        return SplitMix64.mix(hash)
    }
}
