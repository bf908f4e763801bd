import Logging
import ServiceLifecycle

/// Samples this machine every `interval` seconds and records it as the embedded cluster's node.
public struct LocalMetricsService: Service {
    public let metrics: LiveMetrics
    public let clusterId: String
    public let nodeId: String
    public let interval: Double
    public let logger: Logger
    private let collector = LocalMetricsCollector()

    public init(metrics: LiveMetrics, clusterId: String, nodeId: String, interval: Double, logger: Logger) {
        self.metrics = metrics
        self.clusterId = clusterId
        self.nodeId = nodeId
        self.interval = interval
        self.logger = logger
    }

    public func sampleOnce() async {
        await metrics.record(clusterId: clusterId, nodeId: nodeId, metrics: collector.sample())
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    try await Task.sleep(for: .seconds(interval))
                } catch {
                    return  // cancelled: shutting down
                }
                await sampleOnce()
            }
        }
    }
}
