import AIOSBlock
import Foundation
import Synchronization

/// The built-in quota checker: at most `maxRequests` requests per session in any `windowSeconds`. A request
/// over the quota is refused (`RESOURCE_EXHAUSTED`) and does not count. Sessions idle for a window are
/// forgotten, and at most `maxSessions` are tracked (the least recently seen go first).
public final class VDAGQuotaChecker: Sendable {
    public let quota: VDAGQuota
    private let maxSessions: Int
    private let sessions = Mutex<[String: [Double]]>([:])

    public init(quota: VDAGQuota, maxSessions: Int = 100_000) {
        self.quota = quota
        self.maxSessions = maxSessions
    }

    /// Requests of `session` counted in the current window.
    public func recent(session: String, now: Double = Date().timeIntervalSince1970) -> Int {
        sessions.withLock { ($0[session] ?? []).filter { $0 > now - quota.windowSeconds }.count }
    }

    public func admit(session: String, now: Double = Date().timeIntervalSince1970) throws(InferenceError) {
        let window = quota.windowSeconds, limit = quota.maxRequests
        let admitted = sessions.withLock { sessions -> Bool in
            var times = (sessions[session] ?? []).filter { $0 > now - window }
            guard times.count < limit else {
                sessions[session] = times
                return false
            }
            times.append(now)
            sessions[session] = times
            if sessions.count > maxSessions {
                // Forget idle sessions first, then the ones seen longest ago.
                sessions = sessions.filter { $0.value.last.map { $0 > now - window } ?? false }
                while sessions.count > maxSessions, let oldest = sessions.min(by: { ($0.value.last ?? 0) < ($1.value.last ?? 0) }) {
                    sessions[oldest.key] = nil
                }
            }
            return true
        }
        if !admitted {
            throw InferenceError(.resourceExhausted, "quota exceeded for session \"\(session)\": at most \(limit) request(s) per \(window.formatted) s")
        }
    }
}
