import Foundation

/// Requests served and their latencies over sliding 1-, 5- and 15-minute windows: 10-second slots, each a
/// log-scale latency histogram (4 buckets per doubling, 1 µs to ~4.5 min), so percentiles over any window
/// cost a merge of at most 90 small histograms and recording costs one increment.
public struct RequestStats: Sendable {
    public static let slotSeconds = 10
    static let slots = 90
    static let bucketsPerDoubling = 4.0
    static let buckets = 112

    private struct Slot: Sendable {
        var index = -1
        var count = 0
        var errors = 0
        var histogram = [UInt32](repeating: 0, count: RequestStats.buckets)
    }

    private var ring = [Slot](repeating: Slot(), count: RequestStats.slots)
    public private(set) var total = 0
    public private(set) var totalErrors = 0

    public init() {}

    /// One request that took `seconds` and ended at `now` (seconds since any fixed origin).
    public mutating func record(seconds: Double, failed: Bool, now: Double) {
        let index = Int(now) / Self.slotSeconds
        let position = index % Self.slots
        if ring[position].index != index { ring[position] = Slot(index: index) }
        ring[position].count += 1
        total += 1
        if failed {
            ring[position].errors += 1
            totalErrors += 1
        }
        ring[position].histogram[Self.bucket(seconds)] &+= 1
    }

    public struct Summary: Sendable, Equatable {
        public var count: Int
        public var errors: Int
        public var ratePerSecond: Double
        public var p50: Double?
        public var p99: Double?
    }

    /// The requests that ended within the last `window` seconds before `now`.
    public func summary(window: Int, now: Double) -> Summary {
        let current = Int(now) / Self.slotSeconds
        let oldest = current - max(1, window / Self.slotSeconds) + 1
        var count = 0, errors = 0
        var merged = [UInt64](repeating: 0, count: Self.buckets)
        for slot in ring where slot.index >= oldest && slot.index <= current {
            count += slot.count
            errors += slot.errors
            for (bucket, value) in slot.histogram.enumerated() where value > 0 { merged[bucket] += UInt64(value) }
        }
        // The current slot is partly elapsed: the rate is over the time the window actually covers.
        let covered = Double(window - Self.slotSeconds) + (now - Double(current * Self.slotSeconds))
        return Summary(count: count, errors: errors, ratePerSecond: Double(count) / max(covered, 1),
                       p50: Self.quantile(0.5, merged, count), p99: Self.quantile(0.99, merged, count))
    }

    static func bucket(_ seconds: Double) -> Int {
        let micros = max(seconds * 1_000_000, 1)
        return min(buckets - 1, Int(log2(micros) * bucketsPerDoubling))
    }

    /// The upper bound of `bucket`, in seconds.
    static func upperBound(_ bucket: Int) -> Double {
        pow(2, Double(bucket + 1) / bucketsPerDoubling) / 1_000_000
    }

    private static func quantile(_ q: Double, _ histogram: [UInt64], _ count: Int) -> Double? {
        guard count > 0 else { return nil }
        let rank = UInt64((Double(count) * q).rounded(.up))
        var seen: UInt64 = 0
        for (bucket, value) in histogram.enumerated() {
            seen += value
            if seen >= max(rank, 1) { return upperBound(bucket) }
        }
        return upperBound(buckets - 1)
    }
}
