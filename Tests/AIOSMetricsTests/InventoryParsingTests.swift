import AIOSMetrics
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

    func testThisHostHasCoresAndMemory() {
        let inventory = HostInventory.collect()
        XCTAssertGreaterThan(inventory.cores, 0)
        XCTAssertGreaterThan(inventory.memory, 0)
        let node = inventory.nodeDocument(id: "local")
        XCTAssertEqual(node["gpus"]?["count"]?.intValue, inventory.gpus.count)
    }
}
