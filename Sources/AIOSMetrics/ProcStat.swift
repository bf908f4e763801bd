/// Reads CPU time counters from `/proc/stat` and load averages from `/proc/loadavg`.
public enum ProcStat {
    /// Total and idle jiffies of the aggregate `cpu` line.
    public struct CPUTimes: Sendable, Equatable {
        public var total: Double
        public var idle: Double

        /// Percent busy between an earlier sample and this one.
        public func usage(since earlier: CPUTimes) -> Double? {
            let total = self.total - earlier.total
            guard total > 0 else { return nil }
            return max(0, min(100, (1 - (idle - earlier.idle) / total) * 100))
        }
    }

    public static func cpuTimes(_ text: String) -> CPUTimes? {
        guard let line = text.split(whereSeparator: \.isNewline).first(where: { $0.hasPrefix("cpu ") }) else { return nil }
        let fields = line.split(separator: " ").dropFirst().compactMap { Double($0) }
        guard fields.count >= 4 else { return nil }
        // user nice system idle iowait irq softirq steal; idle time is idle + iowait.
        let idle = fields[3] + (fields.count > 4 ? fields[4] : 0)
        let total = fields.prefix(8).reduce(0, +)
        return CPUTimes(total: total, idle: idle)
    }

    /// `(load1m, load5m, load15m)` from `/proc/loadavg`.
    public static func loadAverages(_ text: String) -> (Double, Double, Double)? {
        let fields = text.split(separator: " ").prefix(3).compactMap { Double($0) }
        guard fields.count == 3 else { return nil }
        return (fields[0], fields[1], fields[2])
    }
}
