import AIOSMetrics
import Logging
import ServiceLifecycle

/// Samples this machine every `interval` seconds and records it as the embedded cluster's node.
struct LocalMetricsService: Service {
    let metrics: LiveMetrics
    let clusterId: String
    let nodeId: String
    let interval: Double
    let logger: Logger
    private let collector = LocalMetricsCollector()

    init(metrics: LiveMetrics, clusterId: String, nodeId: String, interval: Double, logger: Logger) {
        self.metrics = metrics
        self.clusterId = clusterId
        self.nodeId = nodeId
        self.interval = interval
        self.logger = logger
    }

    func sampleOnce() async {
        await metrics.record(clusterId: clusterId, nodeId: nodeId, metrics: collector.sample())
    }

    func run() async throws {
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
