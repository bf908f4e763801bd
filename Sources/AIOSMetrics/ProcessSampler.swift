import Foundation

/// CPU % and resident memory of instance process groups, from the change in their CPU time between two
/// samples (a reading taken within half a second of the previous one reuses it).
public actor ProcessSampler {
    public init() {}

    public struct Usage: Sendable {
        /// Percent of one CPU (200 = two CPUs busy).
        public var cpuPercent: Double?
        public var rssBytes: Double
        public var processes: Int
    }

    private var previous: [Int32: (cpuSeconds: Double, at: Date, usage: Usage)] = [:]

    /// The usage of each process group in `pids` that is alive, from one pass over `/proc`.
    public func usages(pids: Set<Int32>) -> [Int32: Usage] {
        let now = Date()
        var result: [Int32: Usage] = [:]
        var stale: Set<Int32> = []
        for pid in pids {
            if let last = previous[pid], now.timeIntervalSince(last.at) < 0.5 { result[pid] = last.usage } else { stale.insert(pid) }
        }
        let sampled = ProcessTreeStats.sample(groups: stale)
        for pid in stale {
            guard let stats = sampled[pid] else {
                previous[pid] = nil
                continue
            }
            var usage = Usage(cpuPercent: nil, rssBytes: stats.rssBytes, processes: stats.processes)
            if let last = previous[pid] {
                usage.cpuPercent = max(0, (stats.cpuSeconds - last.cpuSeconds) / now.timeIntervalSince(last.at) * 100)
            }
            previous[pid] = (stats.cpuSeconds, now, usage)
            result[pid] = usage
        }
        return result
    }

    /// Forgets processes that are gone.
    public func retain(_ pids: Set<Int32>) {
        previous = previous.filter { pids.contains($0.key) }
    }
}
