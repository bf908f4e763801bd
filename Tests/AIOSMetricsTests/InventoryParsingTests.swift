@testable import AIOSMetrics
import AIOSModel
import Foundation
import XCTest

final class InventoryParsingTests: XCTestCase {
    /// Recorded from `nvidia-smi --query-gpu=index,name,uuid,memory.total,memory.used,memory.free,utilization.gpu,utilization.memory --format=csv,noheader,nounits`
    /// on a 2×A100 host, with one GPU reporting `[N/A]` utilisation (as MIG-enabled GPUs do).
    let recorded = """
        0, NVIDIA A100-SXM4-40GB, GPU-4b1c6a0e-0d6f-2b7a-9c3e-1f2a3b4c5d6e, 40960, 1024, 39936, 12, 3
        1, NVIDIA A100-SXM4-40GB, GPU-9f8e7d6c-5b4a-3928-1706-f5e4d3c2b1a0, 40960, 20480, 20480, [N/A], [N/A]

        """

    func testParsesRecordedNvidiaSMIOutput() {
        let gpus = NvidiaSMI.parse(recorded)
        XCTAssertEqual(gpus.count, 2)
        XCTAssertEqual(gpus[0].index, 0)
        XCTAssertEqual(gpus[0].name, "NVIDIA A100-SXM4-40GB")
        XCTAssertEqual(gpus[0].memoryTotal, 40960)
        XCTAssertEqual(gpus[0].memoryFree, 39936)
        XCTAssertEqual(gpus[0].utilizationGPU, 12)
        XCTAssertEqual(gpus[1].memoryUsed, 20480)
        XCTAssertEqual(gpus[1].utilizationGPU, 0)
    }

    func testSkipsLinesThatAreNotGPUs() {
        XCTAssertTrue(NvidiaSMI.parse("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.\n").isEmpty)
    }

    func testMemInfo() {
        let values = MemInfo.parse("MemTotal:       24576000 kB\nMemFree:         1000 kB\nSwapTotal:             0 kB\n")
        XCTAssertEqual(values["MemTotal"], 24_576_000)
        XCTAssertEqual(values["SwapTotal"], 0)
    }

    func testThisHostHasCoresAndMemory() async {
        let inventory = await HostInventory.collect()
        XCTAssertGreaterThan(inventory.cores, 0)
        XCTAssertGreaterThan(inventory.memory, 0)
        let node = inventory.nodeDocument(id: "local")
        XCTAssertEqual(node["gpus"]?["count"]?.intValue, inventory.gpus.count)
    }
}

final class LiveMetricsParsingTests: XCTestCase {
    func testProcStatUsageBetweenSamples() throws {
        let first = try XCTUnwrap(ProcStat.cpuTimes("cpu  100 0 100 800 0 0 0 0 0 0\ncpu0 50 0 50 400 0 0 0 0 0 0\n"))
        let second = try XCTUnwrap(ProcStat.cpuTimes("cpu  150 0 150 900 0 0 0 0 0 0\n"))
        XCTAssertEqual(try XCTUnwrap(second.usage(since: first)), 50, accuracy: 0.001)
        XCTAssertNil(first.usage(since: first))
    }

    func testLoadAverages() throws {
        let loads = try XCTUnwrap(ProcStat.loadAverages("0.52 0.58 0.59 1/467 12345\n"))
        XCTAssertEqual(loads.0, 0.52)
        XCTAssertEqual(loads.2, 0.59)
    }

    func testPushedMetricsAcceptAIOSSpellingsAndDeriveTotals() throws {
        let metrics = try NodeMetrics(document: [
            "resource": ["node": [
                "vcpu": ["load_1m": 1, "load_5m": 2, "load_15m": 3],
                "memory": ["freeMem": 1000, "totalMem": 4000],
                "gpus": [["gpu_id": 0, "cudaUtilization": 40, "freeMem": 30000, "totalMem": 40000]],
            ]],
        ], at: FieldPath(dotted: "metrics"))
        XCTAssertEqual(metrics.load15m, 3)
        XCTAssertEqual(metrics.memoryUsed, 3000)
        XCTAssertEqual(metrics.gpus.first?.gpuId, "0")
        XCTAssertEqual(metrics.gpus.first?.usedMem, 10000)
        XCTAssertEqual(metrics.document["gpu"]?["totalFreeMem"], 30000)
        XCTAssertEqual(metrics.document["vcpu"]?["load_15m"], 3)
    }

    func testLocalCollectorReadsThisMachine() async throws {
        let collector = LocalMetricsCollector()
        _ = await collector.sample()
        // /proc/stat counts in clock ticks (10 ms); back-to-back samples can see no tick at all.
        try await Task.sleep(for: .milliseconds(200))
        let sample = await collector.sample()
        XCTAssertGreaterThan(sample.memoryTotal, 0)
        XCTAssertNotNil(sample.cpuUsage, "the second sample knows CPU usage since the first")
    }

    func testProcessGroupsAreSampledInOnePass() {
        let group = getpgrp()
        let stats = ProcessTreeStats.sample(groups: [group, 999_999_999])
        XCTAssertGreaterThan(stats[group]?.rssBytes ?? 0, 0)
        XCTAssertGreaterThanOrEqual(stats[group]?.processes ?? 0, 1)
        XCTAssertNil(stats[999_999_999], "a group with no live process is absent")
        // utime, stime and the reaped children's cutime and cstime all count.
        let line = "42 (a b) S 1 42 42 0 -1 0 0 0 0 0 10 20 30 40 20 0 1 0 100 1000 7 0"
        let parsed = ProcessTreeStats.parse(stat: line)
        XCTAssertEqual(parsed?.group, 42)
        XCTAssertEqual(parsed?.cpuTicks, 100)
        XCTAssertEqual(parsed?.rssPages, 7)
    }

    func testStaleNodesAreNotAggregated() {
        let now = Date()
        let metrics = NodeMetrics(load1m: 1, load5m: 1, load15m: 4, cpuUsage: nil, memoryFree: 10, memoryUsed: 0,
                                  gpus: [GPUMetrics(gpuId: "0", cudaUtilization: 10, memUtilization: 0, freeMem: 100, usedMem: 0, totalMem: 100)])
        let document = ClusterMetrics.document(clusterId: "c", samples: [
            NodeMetricsSample(nodeId: "fresh", metrics: metrics, receivedAt: now),
            NodeMetricsSample(nodeId: "old", metrics: metrics, receivedAt: now.addingTimeInterval(-60)),
        ], now: now, ttl: 30, includeStale: true)
        XCTAssertEqual(document.value(atDottedPath: "cluster.gpu.count"), 1)
        XCTAssertEqual(document["staleNodes"], 1)
        XCTAssertEqual(document["nodes"]?.arrayValue?.last?["stale"], true)
    }
}
