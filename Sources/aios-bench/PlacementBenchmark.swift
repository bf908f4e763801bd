import AIOSMetrics
import AIOSModel
import AIOSPlacement
import AIOSQuery
import Foundation

/// `make bench`: placement decision time on synthetic networks, against a baseline measured in the same run.
///
/// The network: clusters of 10 nodes × 8 GPUs with seeded random utilisation, free memory and load, a
/// third of them from the seed's vendor, 1 reservation per 10 clusters. The request is the seed's Mistral
/// block (clusterQuery + clusterMetricsQuery, 3 GPUs on one node, < 90 %, ≥ 16000 MB free, greedy).
/// The baseline is one pass that reads every GPU's free memory: the least any placement over the
/// snapshot must touch. The ratio says how many such passes one decision costs.
struct PlacementBenchmark {
    struct Network {
        var snapshot: CapacitySnapshot
        var reservations: [Reservation]
    }


    static func network(clusters clusterCount: Int, nodesPerCluster: Int = 10, gpusPerNode: Int = 8) -> Network {
        var random = SplitMix64(seed: 42)
        let now = Date()
        var clusters: [CapacitySnapshot.Cluster] = []
        var reservations: [Reservation] = []
        for c in 0..<clusterCount {
            let id = "cluster-\(c)"
            var nodeDocuments: [JSONValue] = []
            var nodes: [CapacitySnapshot.Node] = []
            var samples: [NodeMetricsSample] = []
            for n in 0..<nodesPerCluster {
                let nodeId = "node-\(n)"
                let gpus = (0..<gpusPerNode).map { g -> GPUMetrics in
                    let free = Double(Int.random(in: 2000...40960, using: &random))
                    return GPUMetrics(gpuId: String(g), cudaUtilization: Double(Int.random(in: 0...100, using: &random)), memUtilization: 0,
                                      freeMem: free, usedMem: 40960 - free, totalMem: 40960)
                }
                let load = Double.random(in: 0...16, using: &random)
                samples.append(NodeMetricsSample(nodeId: nodeId, metrics: NodeMetrics(load1m: load, load5m: load, load15m: load, cpuUsage: nil,
                                                                                          memoryFree: 200_000, memoryUsed: 56000, gpus: gpus), receivedAt: now))
                nodeDocuments.append(["id": .string(nodeId), "vcpus": ["count": 64], "memory": 256_000,
                                      "gpus": ["count": .number(Double(gpusPerNode)), "memory": .number(Double(gpusPerNode) * 40960)]])
                nodes.append(CapacitySnapshot.Node(
                    id: nodeId, vcpus: 64, memory: 256_000, declaredGPUs: gpusPerNode,
                    live: .init(ageSeconds: 1, load15m: load, memoryFree: 200_000, gpus: gpus.map {
                        CapacitySnapshot.GPU(id: $0.gpuId, totalMemory: $0.totalMem, freeMemory: $0.freeMem, utilization: $0.cudaUtilization)
                    })))
            }
            let document: JSONValue = [
                "id": .string(id), "regionId": "r", "tags": ["gpu"],
                "clusterMetadata": ["vendor": .string(c % 3 == 0 ? "dma-bangalore" : "acme")],
                "gpus": ["count": .number(Double(nodesPerCluster * gpusPerNode))],
                "nodes": ["count": .number(Double(nodesPerCluster)), "nodeData": .array(nodeDocuments)],
            ]
            clusters.append(CapacitySnapshot.Cluster(
                id: id, document: document,
                metrics: ClusterMetrics.document(clusterId: id, samples: samples, now: now, ttl: 30, includeStale: false),
                nodes: nodes))
            if c % 10 == 0 {
                reservations.append(Reservation(blockId: "existing-\(c)", instanceId: "i", clusterId: id, nodeId: "node-0",
                                                gpus: ["0", "1"], gpuMemory: 16000, cpus: 4, memory: 8000))
            }
        }
        return Network(snapshot: CapacitySnapshot(clusters: clusters, ttl: 30), reservations: reservations)
    }

    static func mistralRequest() throws -> PlacementRequest {
        let clusterQuery = try FilterQuery.parse([
            "logicalOperator": "AND", "conditions": [
                ["variable": "gpus.count", "operator": ">=", "value": 3],
                ["variable": "clusterMetadata.vendor", "operator": "==", "value": "dma-bangalore"],
            ],
        ], at: .root, schema: .cluster)
        let metricsQuery = try FilterQuery.parse([
            "logicalOperator": "AND", "conditions": [
                ["variable": "cluster.vcpu.load_15m", "operator": "<", "value": "10"],
                ["variable": "cluster.gpu.totalFreeMem", "operator": ">", "value": "48000"],
            ],
        ], at: .root, schema: .clusterMetrics)
        return PlacementRequest(
            blockId: "mistral-chat-88", instances: 1,
            selection: ClusterSelection(clusterQuery: clusterQuery, metricsQuery: metricsQuery, maxCandidates: 10),
            resources: ResourceRequest(gpus: 3, maxGPUUtilization: 0.9, minGPUFreeMemory: 16000, selectionMode: .greedy))
    }

    struct Timing {
        var p50: Double
        var p99: Double
    }

    static func measure(iterations: Int, _ body: () -> Void) -> Timing {
        for _ in 0..<max(3, iterations / 20) { body() }  // warm up
        var samples: [Double] = []
        samples.reserveCapacity(iterations)
        for _ in 0..<iterations {
            let start = DispatchTime.now().uptimeNanoseconds
            body()
            samples.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1_000_000)
        }
        samples.sort()
        return Timing(p50: samples[samples.count / 2], p99: samples[min(samples.count - 1, Int(Double(samples.count) * 0.99))])
    }

    /// One decision on `network`; returns whether it placed (so the optimiser cannot drop the work).
    static func decide(_ request: PlacementRequest, _ network: Network) -> Bool {
        if case .placed = Placer.place(request, in: network.snapshot, reservations: network.reservations, newInstanceId: { "inst-bench" }) {
            return true
        }
        return false
    }

    /// The baseline: read every GPU's free memory once.
    static func scan(_ network: Network) -> Double {
        var total = 0.0
        for cluster in network.snapshot.clusters {
            for node in cluster.nodes {
                for gpu in node.live?.gpus ?? [] { total += gpu.freeMemory }
            }
        }
        return total
    }

    static func format(_ milliseconds: Double) -> String {
        String(format: "%.3f ms", milliseconds)
    }

    static func run() throws {
        let request = try mistralRequest()
        print("placement benchmark (release build; seeded synthetic networks, 10 nodes × 8 GPUs per cluster)")
        var placedCount = 0
        var sink = 0.0
        var growth: [(nodes: Int, timing: Timing)] = []
        for clusters in [10, 100, 1000] {
            let network = network(clusters: clusters)
            let iterations = clusters >= 1000 ? 300 : 1000
            let timing = measure(iterations: iterations) { if decide(request, network) { placedCount += 1 } }
            growth.append((clusters * 10, timing))
            if clusters == 1000 {
                let baseline = measure(iterations: iterations) { sink += scan(network) }
                print("  1000 clusters × 10 nodes × 8 GPUs: decision p50 \(format(timing.p50)), p99 \(format(timing.p99)) (goal: p99 ≤ 10 ms)")
                print("  baseline (one pass over all 80000 GPUs' free memory): p50 \(format(baseline.p50)), p99 \(format(baseline.p99))")
                print(String(format: "  ratio decision/baseline (p50): %.1fx", timing.p50 / max(baseline.p50, 1e-6)))
            }
        }
        print("  growth with network size:")
        for (nodes, timing) in growth {
            print(String(format: "    %6d nodes: p50 %@, p99 %@, p50 ratio to 100 nodes: %.1fx",
                         nodes, format(timing.p50), format(timing.p99), timing.p50 / max(growth[0].timing.p50, 1e-6)))
        }
        print("  (placed in \(placedCount) decisions; checksum \(Int(sink) % 1000))")
    }
}
