import AIOSMetrics
import AIOSModel
import AIOSRuntime
import AIOSStore
import Foundation

/// Per-instance and per-block metrics: process CPU and memory (procfs), GPUs of the allocation (live node
/// metrics), requests in flight and queued, request rate and latency over 1/5/15 minutes. Served as JSON
/// (`GET /api/blocks/{id}/metrics`) and as Prometheus text (`GET /metrics`).
public struct BlockMetricsReader: Sendable {
    public let registry: any Registry
    public let executors: Executors
    public let instances: InstanceManager
    public let sampler: ProcessSampler
    public let metrics: LiveMetrics

    public init(registry: any Registry, executors: Executors, instances: InstanceManager, sampler: ProcessSampler, metrics: LiveMetrics) {
        self.registry = registry
        self.executors = executors
        self.instances = instances
        self.sampler = sampler
        self.metrics = metrics
    }

    public struct InstanceSample: Sendable {
        var instanceId: String
        var nodeId: String
        var gpus: [String]
        var healthy: Bool
        var usage: ProcessSampler.Usage?
        var gpuMetrics: [GPUMetrics]
        var load: BlockExecutor.Load?
    }

    public struct BlockSample: Sendable {
        var block: BlockRecord
        var instances: [InstanceSample]
        var load: BlockExecutor.Load?
        var retried: Int
    }

    public func sample(_ block: BlockRecord) async -> BlockSample {
        await sample([block])[0]
    }

    /// Every block's sample from one read of the live node metrics and one pass over `/proc`.
    public func sample(_ blocks: [BlockRecord]) async -> [BlockSample] {
        var pids: [String: [String: Int32]] = [:]
        for block in blocks { pids[block.blockId] = await instances.processIds(blockId: block.blockId) }
        let usages = await sampler.usages(pids: Set(pids.values.flatMap(\.values)))
        let live = await metrics.snapshot()
        return blocks.map { block in
            let executorMetrics = executors.executor(for: block.blockId)?.metrics()
            let records = block.instances
            let samples = block.placement.instances.map { placed in
                let node = block.placement.clusterId.flatMap { live[$0]?[placed.nodeId] }
                return InstanceSample(
                    instanceId: placed.instanceId, nodeId: placed.nodeId, gpus: placed.gpus,
                    healthy: records.first { $0.instanceId == placed.instanceId }?.healthy ?? false,
                    usage: pids[block.blockId]?[placed.instanceId].flatMap { usages[$0] },
                    gpuMetrics: node?.metrics.gpus.filter { placed.gpus.contains($0.gpuId) } ?? [],
                    load: executorMetrics?.instances[placed.instanceId])
            }
            return BlockSample(block: block, instances: samples, load: executorMetrics?.block, retried: executorMetrics?.retried ?? 0)
        }
    }

    // MARK: JSON

    public func document(_ sample: BlockSample) -> JSONValue {
        let instances = sample.instances.map { instance -> JSONValue in
            var object = requests(instance.load)
            object["instanceId"] = .string(instance.instanceId)
            object["nodeId"] = .string(instance.nodeId)
            object["healthy"] = .bool(instance.healthy)
            object["cpuPercent"] = instance.usage?.cpuPercent.map { .number(($0 * 10).rounded() / 10) } ?? .null
            object["rssBytes"] = instance.usage.map { .number($0.rssBytes) } ?? .null
            object["processes"] = instance.usage.map { .number(Double($0.processes)) } ?? .null
            object["gpus"] = .array(instance.gpuMetrics.map { ["gpu_id": .string($0.gpuId), "cudaUtilization": .number($0.cudaUtilization),
                                                               "usedMem": .number($0.usedMem), "totalMem": .number($0.totalMem)] })
            return .object(object)
        }
        var block = requests(sample.load)
        block["cpuPercent"] = .number(sample.instances.compactMap(\.usage?.cpuPercent).reduce(0, +))
        block["rssBytes"] = .number(sample.instances.compactMap(\.usage?.rssBytes).reduce(0, +))
        block["instances"] = .number(Double(sample.instances.count))
        block["healthyInstances"] = .number(Double(sample.instances.filter(\.healthy).count))
        block["retried"] = .number(Double(sample.retried))
        return ["blockId": .string(sample.block.blockId), "phase": .string(sample.block.phase.rawValue),
                "minInstances": .number(Double(sample.block.minInstances)), "maxInstances": .number(Double(sample.block.maxInstances)),
                "block": .object(block), "instances": .array(instances)]
    }

    private func requests(_ load: BlockExecutor.Load?) -> [String: JSONValue] {
        func window(_ summary: RequestStats.Summary?) -> JSONValue {
            guard let summary else { return .null }
            return ["count": .number(Double(summary.count)), "errors": .number(Double(summary.errors)),
                    "ratePerSecond": .number((summary.ratePerSecond * 100).rounded() / 100),
                    "p50Ms": summary.p50.map { .number(($0 * 1_000_000).rounded() / 1000) } ?? .null,
                    "p99Ms": summary.p99.map { .number(($0 * 1_000_000).rounded() / 1000) } ?? .null]
        }
        return ["inFlight": .number(Double(load?.inFlight ?? 0)), "queued": .number(Double(load?.queued ?? 0)),
                "requestsTotal": .number(Double(load?.total ?? 0)), "errorsTotal": .number(Double(load?.totalErrors ?? 0)),
                "requests": ["1m": window(load?.oneMinute), "5m": window(load?.fiveMinutes), "15m": window(load?.fifteenMinutes)]]
    }

    // MARK: Prometheus

    public func prometheus() async throws -> String {
        var text = PrometheusText()
        let samples = await sample(try await registry.blocks())

        text.family("aios_block_instances", "gauge", "Instances placed for the block.")
        for sample in samples { text.add("aios_block_instances", ["block": sample.block.blockId], Double(sample.instances.count)) }
        text.family("aios_block_healthy_instances", "gauge", "Instances of the block answering Health.")
        for sample in samples { text.add("aios_block_healthy_instances", ["block": sample.block.blockId], Double(sample.instances.filter(\.healthy).count)) }
        text.family("aios_block_ready", "gauge", "1 when the block is Ready.")
        for sample in samples { text.add("aios_block_ready", ["block": sample.block.blockId, "phase": sample.block.phase.rawValue], sample.block.phase == .ready ? 1 : 0) }

        text.family("aios_gateway_requests_total", "counter", "Requests the gateway routed to the block's instances.")
        text.family("aios_gateway_request_errors_total", "counter", "Routed requests that ended in an error.")
        text.family("aios_gateway_retries_total", "counter", "Requests retried on another instance.")
        text.family("aios_gateway_inflight_requests", "gauge", "Requests in flight.")
        text.family("aios_gateway_queued_requests", "gauge", "Requests waiting for an instance.")
        text.family("aios_gateway_request_rate", "gauge", "Requests per second over the window.")
        text.family("aios_gateway_request_latency_seconds", "gauge", "Request latency quantile over the window.")
        for sample in samples {
            let labels = ["block": sample.block.blockId]
            text.add("aios_gateway_requests_total", labels, Double(sample.load?.total ?? 0))
            text.add("aios_gateway_request_errors_total", labels, Double(sample.load?.totalErrors ?? 0))
            text.add("aios_gateway_retries_total", labels, Double(sample.retried))
            addLoad(&text, labels, sample.load)
            for instance in sample.instances {
                addLoad(&text, labels.merging(["instance": instance.instanceId]) { a, _ in a }, instance.load)
            }
        }

        text.family("aios_instance_cpu_percent", "gauge", "CPU use of the instance's processes, percent of one CPU.")
        text.family("aios_instance_resident_memory_bytes", "gauge", "Resident memory of the instance's processes.")
        text.family("aios_instance_healthy", "gauge", "1 when the instance answers Health.")
        text.family("aios_instance_gpu_utilization_percent", "gauge", "Utilisation of each GPU allocated to the instance.")
        for sample in samples {
            for instance in sample.instances {
                let labels = ["block": sample.block.blockId, "instance": instance.instanceId, "node": instance.nodeId]
                if let cpu = instance.usage?.cpuPercent { text.add("aios_instance_cpu_percent", labels, cpu) }
                if let rss = instance.usage?.rssBytes { text.add("aios_instance_resident_memory_bytes", labels, rss) }
                text.add("aios_instance_healthy", labels, instance.healthy ? 1 : 0)
                for gpu in instance.gpuMetrics {
                    text.add("aios_instance_gpu_utilization_percent", labels.merging(["gpu": gpu.gpuId]) { a, _ in a }, gpu.cudaUtilization)
                }
            }
        }

        text.family("aios_node_load15", "gauge", "15-minute load average of the node.")
        text.family("aios_node_memory_free_megabytes", "gauge", "Free memory of the node.")
        text.family("aios_node_gpu_utilization_percent", "gauge", "GPU utilisation.")
        text.family("aios_node_gpu_free_megabytes", "gauge", "Free GPU memory.")
        text.family("aios_node_metrics_age_seconds", "gauge", "Age of the node's last metrics.")
        let now = Date()
        for (clusterId, nodes) in await metrics.snapshot().sorted(by: { $0.key < $1.key }) {
            for (nodeId, node) in nodes.sorted(by: { $0.key < $1.key }) {
                let labels = ["cluster": clusterId, "node": nodeId]
                text.add("aios_node_load15", labels, node.metrics.load15m)
                text.add("aios_node_memory_free_megabytes", labels, node.metrics.memoryFree)
                text.add("aios_node_metrics_age_seconds", labels, node.age(at: now))
                for gpu in node.metrics.gpus {
                    let gpuLabels = labels.merging(["gpu": gpu.gpuId]) { a, _ in a }
                    text.add("aios_node_gpu_utilization_percent", gpuLabels, gpu.cudaUtilization)
                    text.add("aios_node_gpu_free_megabytes", gpuLabels, gpu.freeMem)
                }
            }
        }
        return text.rendered
    }

    private func addLoad(_ text: inout PrometheusText, _ labels: [String: String], _ load: BlockExecutor.Load?) {
        guard let load else { return }
        text.add("aios_gateway_inflight_requests", labels, Double(load.inFlight))
        text.add("aios_gateway_queued_requests", labels, Double(load.queued))
        for (window, summary) in [("1m", load.oneMinute), ("5m", load.fiveMinutes), ("15m", load.fifteenMinutes)] {
            let windowed = labels.merging(["window": window]) { a, _ in a }
            text.add("aios_gateway_request_rate", windowed, summary.ratePerSecond)
            if let p50 = summary.p50 { text.add("aios_gateway_request_latency_seconds", windowed.merging(["quantile": "0.5"]) { a, _ in a }, p50) }
            if let p99 = summary.p99 { text.add("aios_gateway_request_latency_seconds", windowed.merging(["quantile": "0.99"]) { a, _ in a }, p99) }
        }
    }
}
