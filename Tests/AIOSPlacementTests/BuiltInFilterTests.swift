import AIOSModel
import AIOSPlacement
import XCTest

/// Each built-in filter on its own, on hand-made candidates.
final class BuiltInFilterTests: XCTestCase {
    typealias F = PlacementFixtures

    func testMetricsFreshnessRejectsSilentAndStaleNodesAndStopsTheRest() {
        let filter = MetricsFreshnessFilter()
        XCTAssertTrue(filter.skipsRestWhenRejecting)
        let silent = NodeCandidate(node: CapacitySnapshot.Node(id: "s", vcpus: 4, memory: 1000, declaredGPUs: 0, live: nil))
        XCTAssertTrue(filter.filter(silent, request: ResourceRequest(), state: F.state()).reasons.first?.contains("no metrics received") ?? false)
        let stale = NodeCandidate(node: F.node("old", age: 31))
        XCTAssertEqual(filter.filter(stale, request: ResourceRequest(), state: F.state()).reasons, ["metrics are 31 s old, older than the 30 s TTL"])
        XCTAssertEqual(filter.filter(NodeCandidate(node: F.node("fresh")), request: ResourceRequest(), state: F.state()), .pass)
    }

    func testCPUFilterCountsReservationsAndChecksDefaultsOnlyWhereCPUsAreDeclared() {
        let filter = CPUFilter()
        let node = NodeCandidate(node: F.node("n", vcpus: 4), reservedCPUs: 3)
        XCTAssertEqual(filter.filter(node, request: ResourceRequest(cpus: 1), state: F.state()), .pass)
        XCTAssertEqual(filter.filter(node, request: ResourceRequest(cpus: 2), state: F.state()).reasons,
                       ["needs 2 CPUs, 1 free (4 total, 3 reserved)"])
        let undeclared = NodeCandidate(node: F.node("u", vcpus: 0))
        XCTAssertEqual(filter.filter(undeclared, request: ResourceRequest(), state: F.state()), .pass, "a default reservation where capacity is unknown")
        XCTAssertFalse(filter.filter(undeclared, request: ResourceRequest(cpus: 1), state: F.state()).passed)
    }

    func testMemoryFilterUsesTheLesserOfReportedAndDeclaredLessReservations() {
        let filter = MemoryFilter()
        // Declared 64000, reserved 10000: 54000 free, under the reported 60000.
        let node = NodeCandidate(node: F.node("n"), reservedMemory: 10000)
        XCTAssertEqual(filter.filter(node, request: ResourceRequest(memory: 54000), state: F.state()), .pass)
        XCTAssertEqual(filter.filter(node, request: ResourceRequest(memory: 55000), state: F.state()).reasons,
                       ["needs 55000 MB memory, 54000 MB free after reservations"])
    }

    func testGPUCountFilterNeedsEnoughReportingAndQualifyingGPUs() {
        let filter = GPUCountFilter()
        XCTAssertEqual(filter.filter(NodeCandidate(node: F.node("cpu")), request: ResourceRequest(), state: F.state()), .pass)
        let reporting = filter.filter(NodeCandidate(node: F.node("two", gpus: F.gpus(2))), request: ResourceRequest(gpus: 3), state: F.state())
        XCTAssertEqual(reporting.reasons, ["has 2 GPU(s) reporting metrics, needs 3 on one node"])
        // Qualifying GPUs are what the GPU filters left: none here, since the placer did not run them.
        let qualifying = filter.filter(NodeCandidate(node: F.node("four", gpus: F.gpus(4))), request: ResourceRequest(gpus: 1), state: F.state())
        XCTAssertEqual(qualifying.reasons, ["0 of 4 GPUs qualify, needs 1: "])
    }

    func testGPUUtilizationFilterTakesAFraction() {
        let filter = GPUUtilizationFilter()
        let node = NodeCandidate(node: F.node("n"))
        let busy = GPUCandidate(gpu: F.gpus(1, util: 90)[0], reserved: 0)
        XCTAssertEqual(filter.filter(busy, on: node, request: ResourceRequest(gpus: 1, maxGPUUtilization: 0.9), state: F.state()).reasons,
                       ["utilisation 90 % ≥ 90 %"])
        XCTAssertEqual(filter.filter(busy, on: node, request: ResourceRequest(gpus: 1, maxGPUUtilization: 0.95), state: F.state()), .pass)
        XCTAssertEqual(filter.filter(busy, on: node, request: ResourceRequest(gpus: 1), state: F.state()), .pass)
    }

    func testGPUMemoryFilterChecksFreeMemoryAfterReservationsOrTakesTheGPUWhole() {
        let filter = GPUMemoryFilter()
        let node = NodeCandidate(node: F.node("n"))
        let held = GPUCandidate(gpu: F.gpus(1, free: 40960)[0], reserved: 30000)
        XCTAssertEqual(held.available, 10960)
        XCTAssertEqual(filter.filter(held, on: node, request: ResourceRequest(gpus: 1, minGPUFreeMemory: 16000), state: F.state()).reasons,
                       ["10960 MB free after reservations < 16000 MB needed"])
        XCTAssertEqual(filter.filter(held, on: node, request: ResourceRequest(gpus: 1, minGPUFreeMemory: 10000), state: F.state()), .pass)
        XCTAssertEqual(filter.filter(held, on: node, request: ResourceRequest(gpus: 1), state: F.state()).reasons,
                       ["already reserved, and without min_gpu_free_memory an instance takes a GPU whole"])
        XCTAssertEqual(filter.filter(GPUCandidate(gpu: held.gpu, reserved: 0), on: node, request: ResourceRequest(gpus: 1), state: F.state()), .pass)
    }

    func testNodeSelectorFilterNeedsEveryLabelExactly() {
        let filter = NodeSelectorFilter()
        XCTAssertTrue(filter.skipsRestWhenRejecting)
        let node = NodeCandidate(node: F.node("n", labels: ["zone": "eu-west", "tier": "gold"]))
        XCTAssertEqual(filter.filter(node, request: ResourceRequest(), state: F.state()), .pass)
        XCTAssertEqual(filter.filter(node, request: ResourceRequest(nodeSelector: ["zone": "eu-west"]), state: F.state()), .pass)
        XCTAssertEqual(filter.filter(node, request: ResourceRequest(nodeSelector: ["zone": "eu-west", "tier": "gold"]), state: F.state()), .pass)
        XCTAssertEqual(filter.filter(node, request: ResourceRequest(nodeSelector: ["zone": "EU-WEST", "rack": "7"]), state: F.state()).reasons,
                       ["no label rack, node_selector needs rack=\"7\"", "label zone is \"eu-west\", node_selector needs \"EU-WEST\""])
    }

    func testGPUModelFilterOnNodesAndOnGPUs() {
        let filter = GPUModelFilter()
        let mixed = NodeCandidate(node: F.node("mixed", gpus: F.gpus(1, model: "NVIDIA H100 80GB HBM3") + F.gpus(1, model: "NVIDIA A100-SXM4-80GB", firstId: 1)))
        let h100 = ResourceRequest(gpus: 1, gpuModels: ["h100"])
        XCTAssertEqual(filter.filter(mixed, request: h100, state: F.state()), .pass)
        XCTAssertEqual(filter.filter(mixed.gpus[0], on: mixed, request: h100, state: F.state()), .pass)
        XCTAssertEqual(filter.filter(mixed.gpus[1], on: mixed, request: h100, state: F.state()).reasons, ["model NVIDIA A100-SXM4-80GB, needs h100"])
        let a10 = ResourceRequest(gpus: 1, gpuModels: ["A10"])
        XCTAssertEqual(filter.filter(mixed, request: a10, state: F.state()).reasons,
                       ["no GPU of model A10; it has NVIDIA A100-SXM4-80GB ×1, NVIDIA H100 80GB HBM3 ×1"])
        XCTAssertEqual(filter.filter(NodeCandidate(node: F.node("cpu")), request: ResourceRequest(gpuModels: ["H100", "H200"]), state: F.state()).reasons,
                       ["no GPU of model one of H100, H200; it has no GPUs"])
        let unnamed = NodeCandidate(node: F.node("unnamed", gpus: F.gpus(1)))
        XCTAssertEqual(filter.filter(unnamed.gpus[0], on: unnamed, request: h100, state: F.state()).reasons, ["model unknown, needs h100"])
    }

    func testGPUModelNamesMatchWholeWordsCaseInsensitively() {
        XCTAssertTrue(GPUModelName.matches("H100", "NVIDIA H100 80GB HBM3"))
        XCTAssertTrue(GPUModelName.matches("h100 80gb", "NVIDIA H100 80GB HBM3"))
        XCTAssertTrue(GPUModelName.matches("NVIDIA H100 80GB HBM3", "NVIDIA H100 80GB HBM3"))
        XCTAssertTrue(GPUModelName.matches("RTX 4090", "NVIDIA GeForce RTX 4090"))
        XCTAssertTrue(GPUModelName.matches("A100", "NVIDIA A100-SXM4-80GB"))
        XCTAssertFalse(GPUModelName.matches("A10", "NVIDIA A100-SXM4-80GB"))
        XCTAssertFalse(GPUModelName.matches("H100 HBM3", "NVIDIA H100 80GB HBM3"), "words must be consecutive")
        XCTAssertFalse(GPUModelName.matches("H100", "NVIDIA H200"))
        XCTAssertTrue(GPUModelName.matches(anyOf: ["H200", "H100"], "NVIDIA H100 PCIe"))
    }
}
