import AIOSModel
import AIOSPlacement
import AIOSPolicy
import AIOSQuery
import XCTest

final class PlacerTests: XCTestCase {
    typealias GPU = CapacitySnapshot.GPU

    func node(_ id: String, gpus: [GPU], load: Double = 1, vcpus: Double = 16, age: Double = 1) -> CapacitySnapshot.Node {
        CapacitySnapshot.Node(id: id, vcpus: vcpus, memory: 64000, declaredGPUs: gpus.count,
                              live: .init(ageSeconds: age, load15m: load, memoryFree: 60000, gpus: gpus))
    }

    func gpus(_ count: Int, free: Double = 40000, util: Double = 0) -> [GPU] {
        (0..<count).map { GPU(id: String($0), totalMemory: 40960, freeMemory: free, utilization: util) }
    }

    func cluster(_ id: String, _ nodes: [CapacitySnapshot.Node], freeGPU: Double? = nil) -> CapacitySnapshot.Cluster {
        let free = freeGPU ?? nodes.flatMap { $0.live?.gpus ?? [] }.reduce(0) { $0 + $1.freeMemory }
        return CapacitySnapshot.Cluster(id: id, document: ["id": .string(id)],
                                        metrics: ["freshNodes": .number(Double(nodes.count)), "cluster": ["gpu": ["totalFreeMem": .number(free)], "vcpu": ["load15m": 1]]],
                                        nodes: nodes)
    }

    func request(_ resources: ResourceRequest, instances: Int = 1, selection: ClusterSelection = ClusterSelection()) -> PlacementRequest {
        PlacementRequest(blockId: "b", instances: instances, selection: selection, resources: resources)
    }

    func place(_ request: PlacementRequest, _ clusters: [CapacitySnapshot.Cluster], reservations: [Reservation] = []) -> PlacementOutcome {
        var counter = 0
        return Placer.place(request, in: CapacitySnapshot(clusters: clusters, ttl: 30), reservations: reservations) {
            counter += 1
            return "i\(counter)"
        }
    }

    func placed(_ outcome: PlacementOutcome, file: StaticString = #filePath, line: UInt = #line) -> [Reservation] {
        guard case .placed(_, let reservations, _) = outcome else {
            XCTFail("not placed: \(outcome)", file: file, line: line)
            return []
        }
        return reservations
    }

    func testGreedyPacksAndBalancedSpreads() {
        let clusters = [cluster("c", [node("n1", gpus: gpus(4)), node("n2", gpus: gpus(4))])]
        let greedy = placed(place(request(ResourceRequest(gpus: 1, minGPUFreeMemory: 10000, selectionMode: .greedy), instances: 3), clusters))
        XCTAssertEqual(Set(greedy.map(\.nodeId)).count, 1, "greedy keeps the block on one node")
        XCTAssertEqual(Set(greedy.flatMap(\.gpus)).count, 1, "and packs one GPU while its memory lasts (3 × 10000 ≤ 40000)")
        let balanced = placed(place(request(ResourceRequest(gpus: 1, minGPUFreeMemory: 10000, selectionMode: .balanced), instances: 2), clusters))
        XCTAssertEqual(Set(balanced.map(\.nodeId)), ["n1", "n2"])
    }

    func testLightestLoadPrefersTheLeastUtilisedGPUs() {
        let busy = node("busy", gpus: gpus(2, util: 70)), idle = node("idle", gpus: gpus(2, util: 5))
        let result = placed(place(request(ResourceRequest(gpus: 2, selectionMode: .lightestLoad)), [cluster("c", [busy, idle])]))
        XCTAssertEqual(result.first?.nodeId, "idle")
    }

    func testWithoutAMemoryRequestAGPUIsTakenWhole() {
        let clusters = [cluster("c", [node("n", gpus: gpus(1))])]
        let first = placed(place(request(ResourceRequest(gpus: 1)), clusters))
        XCTAssertEqual(first.first?.gpuMemory, 40960)
        guard case .unplaced(let report) = place(request(ResourceRequest(gpus: 1)), clusters, reservations: first) else {
            return XCTFail("a whole GPU was shared")
        }
        XCTAssertTrue(report.lines.joined().contains("already reserved"), report.lines.joined(separator: "\n"))
    }

    func testReservationsCountBeforeMetricsShowThem() {
        let clusters = [cluster("c", [node("n", gpus: gpus(1, free: 40960))])]
        let held = [Reservation(blockId: "other", instanceId: "x", clusterId: "c", nodeId: "n", gpus: ["0"], gpuMemory: 30000, cpus: 0, memory: 0)]
        guard case .unplaced(let report) = place(request(ResourceRequest(gpus: 1, minGPUFreeMemory: 16000)), clusters, reservations: held) else {
            return XCTFail("placed on memory another block holds")
        }
        XCTAssertTrue(report.lines.joined().contains("10960 MB free after reservations < 16000 MB needed"), report.lines.joined(separator: "\n"))
    }

    func testCPUWorkPrefersNodesWithoutGPUsAndCountsCPUs() {
        let clusters = [cluster("c", [node("gpu", gpus: gpus(2)), node("cpu", gpus: [], vcpus: 4)])]
        let result = placed(place(request(ResourceRequest(cpus: 2), instances: 2), clusters))
        XCTAssertEqual(result.map(\.nodeId), ["cpu", "cpu"])
        let third = placed(place(request(ResourceRequest(cpus: 2)), clusters, reservations: result))
        XCTAssertEqual(third.first?.nodeId, "gpu", "the CPU node is full; the GPU node still takes CPU work")
    }

    func testInstancesAskingForNothingReserveTheDefaultShare() {
        let twoCores = [cluster("c", [node("small", gpus: [], vcpus: 2)])]
        XCTAssertEqual(ResourceRequest().cpus, ResourceRequest.defaultCPUs)
        XCTAssertEqual(ResourceRequest().memory, ResourceRequest.defaultMemoryMB)
        let twenty = placed(place(request(ResourceRequest(), instances: 20), twoCores))
        XCTAssertEqual(twenty.map(\.cpus), Array(repeating: 0.1, count: 20))
        guard case .unplaced(let report) = place(request(ResourceRequest(), instances: 1000), twoCores) else {
            return XCTFail("a thousand instances placed on two cores")
        }
        XCTAssertTrue(report.lines.joined().contains("default reservation"), report.lines.joined(separator: "\n"))
        guard case .unplaced = place(request(ResourceRequest()), twoCores, reservations: twenty) else {
            return XCTFail("a twenty-first instance placed on two full cores")
        }
        // A node that declares no CPUs is not refused the default (its capacity is unknown); an explicit ask is.
        let undeclared = [cluster("c", [node("unknown", gpus: [], vcpus: 0)])]
        XCTAssertEqual(placed(place(request(ResourceRequest(), instances: 3), undeclared)).count, 3)
        guard case .unplaced = place(request(ResourceRequest(cpus: 1)), undeclared) else {
            return XCTFail("an explicit CPU request placed on a node that declares no CPUs")
        }
    }

    func testStaleAndSilentNodesAreSkipped() {
        let silent = CapacitySnapshot.Node(id: "silent", vcpus: 8, memory: 1000, declaredGPUs: 0, live: nil)
        guard case .unplaced(let report) = place(request(ResourceRequest()), [cluster("c", [node("old", gpus: [], age: 31), silent])]) else {
            return XCTFail("placed on a stale node")
        }
        let text = report.lines.joined(separator: "\n")
        XCTAssertTrue(text.contains("31 s old, older than the 30 s TTL"), text)
        XCTAssertTrue(text.contains("no metrics received"), text)
    }

    func testPartialFitIsReportedAndNothingIsReserved() {
        guard case .unplaced(let report) = place(request(ResourceRequest(gpus: 2), instances: 3), [cluster("c", [node("n", gpus: gpus(4))])]) else {
            return XCTFail("placed 3 × 2 GPUs on 4 GPUs")
        }
        XCTAssertTrue(report.lines.joined().contains("2 of 3 instances fitted"), report.lines.joined(separator: "\n"))
    }

    func testRankingAndMaxCandidates() throws {
        let roomy = cluster("roomy", [node("n", gpus: gpus(1, util: 99))], freeGPU: 900_000)
        let modest = cluster("modest", [node("n", gpus: gpus(1))], freeGPU: 1000)
        let selection = ClusterSelection(maxCandidates: 1)
        guard case .unplaced(let report) = place(request(ResourceRequest(gpus: 1, maxGPUUtilization: 0.9), selection: selection), [modest, roomy]) else {
            return XCTFail("tried past max_candidates")
        }
        XCTAssertEqual(report.clusters.map(\.outcome), ["no-fit", "not-tried"])
        XCTAssertEqual(report.clusters.first?.clusterId, "roomy", "most free GPU memory is tried first")
        let wider = placed(place(request(ResourceRequest(gpus: 1, maxGPUUtilization: 0.9)), [modest, roomy]))
        XCTAssertEqual(wider.first?.clusterId, "modest")
    }

    func testResourceRequestErrorsSayUtilisationIsAFraction() {
        let rule = PolicyRule(kind: .resourceAllocator, uri: nil, parameters: ["max_gpu_utilization": 90, "gpus": -1],
                              settings: ["selection_mode": "random"], location: FieldPath(dotted: "p"))
        XCTAssertThrowsError(try ResourceRequest(rule: rule)) { error in
            let fields = (error as? APIError)?.fields ?? []
            XCTAssertEqual(fields.map(\.path).sorted(), ["p.parameters.gpus", "p.parameters.max_gpu_utilization", "p.settings.selection_mode"])
            XCTAssertTrue(fields.contains { $0.message.contains("fraction 0–1") })
        }
    }

    func testSeedPolicyURIsResolveToBuiltIns() {
        let rule = PolicyRule(kind: .resourceAllocator, uri: "policy.resourceAllocator.multi-gpu-llm:v0.1.0", parameters: [:], settings: [:], location: .root)
        let resolution = BuiltInPolicies.resolve(rule, kind: .resourceAllocator)
        XCTAssertEqual(resolution.builtIn, "policy.resourceAllocator.gpu-fit:v1")
        XCTAssertTrue(resolution.note?.contains("multi-gpu-llm") ?? false)
        XCTAssertThrowsError(try PolicyRule.read(["clusterAllocator": ["policyRuleURI": "policy.loadBalancer.roundrobin:v1"]],
                                                 kind: .clusterAllocator, location: FieldPath(dotted: "x")))
    }
}
