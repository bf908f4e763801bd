import AIOSBlock
import Foundation
import Synchronization

/// Request counts, errors and latency of a controller and of each of its nodes (10-s slots, as blocks have).
public final class VDAGStats: Sendable {
    private let state = Mutex<(total: RequestStats, nodes: [String: RequestStats])>((RequestStats(), [:]))

    public init() {}

    func record(node: String?, seconds: Double, failed: Bool, now: Double = Date().timeIntervalSince1970) {
        state.withLock { state in
            if let node {
                state.nodes[node, default: RequestStats()].record(seconds: seconds, failed: failed, now: now)
            } else {
                state.total.record(seconds: seconds, failed: failed, now: now)
            }
        }
    }

    public struct Snapshot: Sendable {
        public var total: RequestStats
        public var nodes: [String: RequestStats]
    }

    public var snapshot: Snapshot {
        state.withLock { Snapshot(total: $0.total, nodes: $0.nodes) }
    }
}
