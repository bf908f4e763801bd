import AIOSModel
import Foundation

/// A node's latest metrics and when they arrived.
public struct NodeMetricsSample: Sendable, Equatable {
    public var nodeId: String
    public var metrics: NodeMetrics
    public var receivedAt: Date

    public init(nodeId: String, metrics: NodeMetrics, receivedAt: Date) {
        self.nodeId = nodeId
        self.metrics = metrics
        self.receivedAt = receivedAt
    }

    public func age(at now: Date) -> TimeInterval { max(0, now.timeIntervalSince(receivedAt)) }
}

/// Cluster metrics, aggregated correctly: totals summed, loads averaged over nodes, GPU utilisations
/// averaged over GPUs, per-GPU lists kept under `nodes`. Only fresh nodes count; stale ones are listed apart.
public enum ClusterMetrics {
    public static func document(clusterId: String, samples: [NodeMetricsSample], now: Date, ttl: TimeInterval, includeStale: Bool) -> JSONValue {
        let fresh = samples.filter { $0.age(at: now) <= ttl }
        let stale = samples.filter { $0.age(at: now) > ttl }
        let count = Double(fresh.count)
        func average(_ value: (NodeMetrics) -> Double) -> JSONValue {
            .number(count == 0 ? 0 : fresh.reduce(0) { $0 + value($1.metrics) } / count)
        }
        let usages = fresh.compactMap(\.metrics.cpuUsage)
        var vcpu: [String: JSONValue] = [
            "load1m": average(\.load1m), "load5m": average(\.load5m), "load15m": average(\.load15m),
        ]
        vcpu["load_1m"] = vcpu["load1m"]
        vcpu["load_5m"] = vcpu["load5m"]
        vcpu["load_15m"] = vcpu["load15m"]
        if !usages.isEmpty { vcpu["usage"] = .number(usages.reduce(0, +) / Double(usages.count)) }
        let freeMem = fresh.reduce(0) { $0 + $1.metrics.memoryFree }
        let usedMem = fresh.reduce(0) { $0 + $1.metrics.memoryUsed }

        func node(_ sample: NodeMetricsSample, isStale: Bool) -> JSONValue {
            var document = sample.metrics.document
            document["nodeId"] = .string(sample.nodeId)
            document["ageSeconds"] = .number((sample.age(at: now) * 10).rounded() / 10)
            document["stale"] = .bool(isStale)
            return .object(document)
        }
        var nodes = fresh.map { node($0, isStale: false) }
        if includeStale { nodes += stale.map { node($0, isStale: true) } }
        return [
            "clusterId": .string(clusterId),
            "cluster": [
                "vcpu": .object(vcpu),
                "memory": ["freeMem": .number(freeMem), "usedMem": .number(usedMem), "totalMem": .number(freeMem + usedMem)],
                "gpu": NodeMetrics.gpuSummary(fresh.flatMap(\.metrics.gpus)),
            ],
            "nodes": .array(nodes),
            "freshNodes": .number(count),
            "staleNodes": .number(Double(stale.count)),
            "ttlSeconds": .number(ttl),
        ]
    }
}

/// The latest metrics of every node, in memory (metrics are live data: collectors push them again after a restart).
public actor LiveMetrics {
    public nonisolated let ttl: TimeInterval
    private var samples: [String: [String: NodeMetricsSample]] = [:]

    public init(ttl: TimeInterval = 30) {
        self.ttl = ttl
    }

    public func record(clusterId: String, nodeId: String, metrics: NodeMetrics, at time: Date = Date()) {
        samples[clusterId, default: [:]][nodeId] = NodeMetricsSample(nodeId: nodeId, metrics: metrics, receivedAt: time)
    }

    /// Forgets a node (removed from its cluster).
    public func forget(clusterId: String, nodeId: String) {
        samples[clusterId]?[nodeId] = nil
    }

    public func samples(clusterId: String) -> [NodeMetricsSample] {
        (samples[clusterId] ?? [:]).values.sorted { $0.nodeId < $1.nodeId }
    }

    /// Every cluster's samples, for one placement decision.
    public func snapshot() -> [String: [String: NodeMetricsSample]] {
        samples
    }

    public func document(clusterId: String, now: Date = Date(), includeStale: Bool = true) -> JSONValue {
        ClusterMetrics.document(clusterId: clusterId, samples: samples(clusterId: clusterId), now: now, ttl: ttl, includeStale: includeStale)
    }
}
