import AIOSMetrics
import Foundation

/// CPU % and resident memory of instance process groups, from the change in their CPU time between two
/// samples (a reading taken within half a second of the previous one reuses it).
actor ProcessSampler {
    struct Usage: Sendable {
        /// Percent of one CPU (200 = two CPUs busy).
        var cpuPercent: Double?
        var rssBytes: Double
        var processes: Int
    }

    private var previous: [Int32: (cpuSeconds: Double, at: Date, usage: Usage)] = [:]

    func usage(pid: Int32) -> Usage? {
        let now = Date()
        if let last = previous[pid], now.timeIntervalSince(last.at) < 0.5 { return last.usage }
        guard let stats = ProcessTreeStats.sample(groupId: pid) else {
            previous[pid] = nil
            return nil
        }
        var usage = Usage(cpuPercent: nil, rssBytes: stats.rssBytes, processes: stats.processes)
        if let last = previous[pid] {
            usage.cpuPercent = max(0, (stats.cpuSeconds - last.cpuSeconds) / now.timeIntervalSince(last.at) * 100)
        }
        previous[pid] = (stats.cpuSeconds, now, usage)
        return usage
    }

    /// Forgets processes that are gone.
    func retain(_ pids: Set<Int32>) {
        previous = previous.filter { pids.contains($0.key) }
    }
}
