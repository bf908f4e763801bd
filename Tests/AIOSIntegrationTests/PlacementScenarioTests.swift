import AIOSModel
import Foundation
import XCTest

/// The seed's deployment scenarios on a network of clusters built through the API, with metrics pushed
/// through `/api/nodeMetrics` (this machine has no GPUs; the pushed nodes stand for real GPU hosts).
final class PlacementScenarioTests: XCTestCase {
    private var directory: URL!
    private var platform: PlatformProcess!

    override func setUp() async throws {
        directory = temporaryDirectory("placement")
        platform = try PlatformProcess(dataDirectory: directory)
    }

    override func tearDown() async throws {
        platform = nil
        try? FileManager.default.removeItem(at: directory)
    }

    private func cluster(_ id: String, vendor: String, nodes: [(id: String, gpus: Int, gpuMemory: Double)]) -> JSONValue {
        [
            "id": .string(id), "regionId": "r1", "clusterMetadata": ["vendor": .string(vendor)], "tags": [], "reputation": 1,
            "nodes": ["nodeData": .array(nodes.map { node in
                ["id": .string(node.id), "vcpus": ["count": 32], "memory": 128_000,
                 "gpus": ["gpus": .array((0..<node.gpus).map { _ in ["modelName": "A100", "memory": .number(node.gpuMemory)] })]]
            })],
        ]
    }

    @discardableResult
    private func post(_ path: String, _ body: JSONValue, expect status: Int = 200) async throws -> PlatformProcess.Reply {
        let reply = try await platform.post(path, json: body)
        XCTAssertEqual(reply.status, status, "\(path): \(reply.body.jsonString())")
        return reply
    }

    /// Five clusters:
    /// - dma-blr-a: vendor dma-bangalore, one node with 4 GPUs (3 usable for Mistral: < 90 %, ≥ 16000 MB free);
    /// - dma-blr-small: dma-bangalore, 4 GPUs of 80 GB but only 2 per node (most free memory: ranked first, cannot fit 3 on a node);
    /// - dma-blr-large: dma-bangalore, 8 GPUs: one node busy (95 %), one with 10000 MB free per GPU (YOLO fits, Mistral does not);
    /// - dma-blr-busy: dma-bangalore, 4 GPUs but load15m 15;
    /// - acme-8: another vendor, 8 GPUs; cpu-only: a node without GPUs.
    private func buildNetwork() async throws {
        try await post("/api/createCluster", cluster("dma-blr-a", vendor: "dma-bangalore", nodes: [("a-1", 4, 40960)]))
        try await post("/api/nodeMetrics", Fixtures.nodeMetrics(cluster: "dma-blr-a", node: "a-1", load15m: 2,
            gpus: [(10, 38000, 40960), (20, 30000, 40960), (30, 20000, 40960), (95, 39000, 40960)]))

        try await post("/api/createCluster", cluster("dma-blr-small", vendor: "dma-bangalore", nodes: [("s-1", 2, 81920), ("s-2", 2, 81920)]))
        for node in ["s-1", "s-2"] {
            try await post("/api/nodeMetrics", Fixtures.nodeMetrics(cluster: "dma-blr-small", node: node, load15m: 1,
                gpus: [(5, 80000, 81920), (5, 80000, 81920)]))
        }

        try await post("/api/createCluster", cluster("dma-blr-large", vendor: "dma-bangalore", nodes: [("l-1", 4, 40960), ("l-2", 4, 40960)]))
        try await post("/api/nodeMetrics", Fixtures.nodeMetrics(cluster: "dma-blr-large", node: "l-1", load15m: 3,
            gpus: Array(repeating: (95, 39000, 40960), count: 4)))
        try await post("/api/nodeMetrics", Fixtures.nodeMetrics(cluster: "dma-blr-large", node: "l-2", load15m: 3,
            gpus: Array(repeating: (50, 10000, 40960), count: 4)))

        try await post("/api/createCluster", cluster("dma-blr-busy", vendor: "dma-bangalore", nodes: [("b-1", 4, 40960)]))
        try await post("/api/nodeMetrics", Fixtures.nodeMetrics(cluster: "dma-blr-busy", node: "b-1", load15m: 15,
            gpus: Array(repeating: (1, 40000, 40960), count: 4)))

        try await post("/api/createCluster", cluster("acme-8", vendor: "acme", nodes: [("x-1", 8, 40960)]))
        try await post("/api/nodeMetrics", Fixtures.nodeMetrics(cluster: "acme-8", node: "x-1", load15m: 0.5,
            gpus: Array(repeating: (0, 40960, 40960), count: 8)))

        try await post("/api/createCluster", cluster("cpu-only", vendor: "acme", nodes: [("c-1", 0, 0)]))
        try await post("/api/nodeMetrics", Fixtures.nodeMetrics(cluster: "cpu-only", node: "c-1", load15m: 0.01))

        for example in ["mistral7b", "yolov5-block", "vllm-chat"] {
            try await post("/api/addComponent", try Fixtures.exampleComponent(example))
        }
    }

    private func exampleBlock(_ example: String) throws -> JSONValue {
        let data = try Data(contentsOf: PlatformProcess.repositoryRoot.appendingPathComponent("examples/\(example)/block.json"))
        return try XCTUnwrap(JSONValue.decodeJSON(data))
    }

    func testMistralLandsThreeGPUsOnOneQualifyingNode() async throws {
        try await buildNetwork()
        let reply = try await post("/api/createBlock", try exampleBlock("mistral7b"))
        let result = try XCTUnwrap(reply.body["result"])
        XCTAssertEqual(result["phase"], "Starting", result.jsonString(pretty: true))
        XCTAssertEqual(result["placement"]?["clusterId"], "dma-blr-a")
        let instances = result["placement"]?["instances"]?.arrayValue ?? []
        XCTAssertEqual(instances.count, 1)
        XCTAssertEqual(instances.first?["nodeId"], "a-1")
        XCTAssertEqual(instances.first?["gpus"], ["0", "1", "2"], "GPU 3 is at 95 %")

        let block = try await platform.get("/api/blocks/mistral-chat-88")
        let report = try XCTUnwrap(block.body["placementReport"])
        let tried = report["clusters"]?.arrayValue ?? []
        let small = tried.first { $0["clusterId"] == "dma-blr-small" }
        XCTAssertEqual(small?["outcome"], "no-fit", report.jsonString(pretty: true))
        XCTAssertTrue(small?.jsonString().contains("needs 3 on one node") ?? false, report.jsonString(pretty: true))
        let events = block.body["events"]?.arrayValue?.compactMap { $0["message"]?.stringValue } ?? []
        XCTAssertTrue(events.contains { $0.contains("policy.resourceAllocator.gpu-node-selector:v0.0.1 is not registered") }, "\(events)")
    }

    func testYOLOLandsOnAClusterWithMoreThanFiveGPUs() async throws {
        try await buildNetwork()
        let reply = try await post("/api/createBlock", try exampleBlock("yolov5-block"))
        let result = try XCTUnwrap(reply.body["result"])
        XCTAssertEqual(result["phase"], "Starting", result.jsonString(pretty: true))
        XCTAssertEqual(result["placement"]?["clusterId"], "dma-blr-large")
        XCTAssertEqual(result["placement"]?["instances"]?.arrayValue?.first?["nodeId"], "l-2", "l-1's GPUs are above 80 %")
        let cluster = try await platform.get("/api/clusters/dma-blr-large")
        XCTAssertGreaterThan(cluster.body.value(atDottedPath: "gpus.count")?.numberValue ?? 0, 5)
    }

    func testVLLMChatLandsOnANodeWithoutGPUs() async throws {
        try await buildNetwork()
        let reply = try await post("/api/createBlock", try exampleBlock("vllm-chat"))
        let result = try XCTUnwrap(reply.body["result"])
        XCTAssertEqual(result["phase"], "Starting", result.jsonString(pretty: true))
        let clusterId = try XCTUnwrap(result["placement"]?["clusterId"]?.stringValue)
        let nodeId = try XCTUnwrap(result["placement"]?["instances"]?.arrayValue?.first?["nodeId"]?.stringValue)
        XCTAssertEqual(result["placement"]?["instances"]?.arrayValue?.first?["gpus"], [])
        let cluster = try await platform.get("/api/clusters/\(clusterId)")
        let node = cluster.body["nodes"]?["nodeData"]?.arrayValue?.first { $0["id"]?.stringValue == nodeId }
        XCTAssertEqual(node?.value(atDottedPath: "gpus.count"), 0, "a CPU-only block goes to a node without GPUs (\(clusterId)/\(nodeId))")
    }

    func testASpecNothingSatisfiesFailsWithAReportNamingEachCondition() async throws {
        try await buildNetwork()
        let reply = try await post("/api/createBlock", try exampleBlock("mistral7b"))
        XCTAssertEqual(reply.body["result"]?["phase"], "Starting")
        // Each instance reserves 16000 MB on each of its GPUs: a second Mistral still fits on dma-blr-a
        // (GPUs 0-2 keep 40960 - 16000 MB), a third does not (40960 - 32000 = 8960 MB left).
        func another(_ id: String) throws -> JSONValue {
            try XCTUnwrap(JSONValue.decodeJSON(Data(try exampleBlock("mistral7b").jsonString().replacingOccurrences(of: "mistral-chat-88", with: id).utf8)))
        }
        let second = try await post("/api/createBlock", try another("mistral-chat-89"))
        XCTAssertEqual(second.body["result"]?["phase"], "Starting")
        XCTAssertEqual(second.body["result"]?["placement"]?["instances"]?.arrayValue?.first?["gpus"], ["0", "1", "2"])
        let third = try await post("/api/createBlock", try another("mistral-chat-90"))
        let result = try XCTUnwrap(third.body["result"])
        XCTAssertEqual(result["phase"], "Failed", result.jsonString(pretty: true))
        let report = result["report"]?.jsonString() ?? ""
        XCTAssertTrue(report.contains("clusterMetadata.vendor = acme, needs == dma-bangalore"), report)
        XCTAssertTrue(report.contains("cluster.vcpu.load_15m = 15, needs < 10"), report)
        XCTAssertTrue(report.contains("gpus.count = 0, needs >= 3"), report)
        XCTAssertTrue(report.contains("GPU 3: utilisation 95 % ≥ 90 %"), report)
        XCTAssertTrue(report.contains("GPU 0: 8960 MB free after reservations < 16000 MB needed"), report)
        let block = try await platform.get("/api/blocks/mistral-chat-90")
        XCTAssertEqual(block.body["phase"], "Failed")
        XCTAssertEqual(block.body["placement"]?["instances"], [])
        XCTAssertTrue(block.body["reason"]?.stringValue?.contains("no cluster can host") ?? false)
    }

    func testStaleMetricsAreNotPlacedOnAndTheReportSaysSo() async throws {
        try await post("/api/createCluster", cluster("stale", vendor: "v", nodes: [("n-1", 1, 40960)]))
        try await post("/api/nodeMetrics", Fixtures.nodeMetrics(cluster: "stale", node: "n-1", gpus: [(0, 40000, 40960)], ageSeconds: 120))
        try await post("/api/addComponent", Fixtures.chatComponent)
        let block = Fixtures.placedBlock(id: "s1", clusterId: "stale", gpus: 1)
        let result = try await post("/api/createBlock", block).body["result"]
        XCTAssertEqual(result?["phase"], "Failed")
        XCTAssertTrue(result?["report"]?.jsonString().contains("older than the 30 s TTL") ?? false, result?.jsonString() ?? "")

        try await post("/api/nodeMetrics", Fixtures.nodeMetrics(cluster: "stale", node: "n-1", gpus: [(0, 40000, 40960)]))
        let again = try await post("/api/createBlock", Fixtures.placedBlock(id: "s2", clusterId: "stale", gpus: 1)).body["result"]
        XCTAssertEqual(again?["phase"], "Starting")
    }

    func testConcurrentCreatesNeverShareAGPUBeyondItsMemory() async throws {
        try await post("/api/createCluster", cluster("contended", vendor: "v", nodes: [("n-1", 1, 40960)]))
        try await post("/api/nodeMetrics", Fixtures.nodeMetrics(cluster: "contended", node: "n-1", gpus: [(0, 40960, 40960)]))
        try await post("/api/addComponent", Fixtures.chatComponent)
        let platform = self.platform!
        let phases = try await withThrowingTaskGroup(of: String.self) { group in
            for index in 0..<6 {
                group.addTask {
                    let reply = try await platform.post("/api/createBlock", json: Fixtures.placedBlock(
                        id: "c\(index)", clusterId: "contended", gpus: 1, minGPUFreeMemory: 16000))
                    return reply.body["result"]?["phase"]?.stringValue ?? "?"
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        XCTAssertEqual(phases.filter { $0 == "Starting" }.count, 2, "two 16000 MB reservations fit in 40960 MB, a third does not: \(phases)")
        XCTAssertEqual(phases.filter { $0 == "Failed" }.count, 4, "\(phases)")

        // Removing one releases its reservation: a new block fits again.
        let blocks = try await platform.get("/api/blocks").body.arrayValue ?? []
        let placed = try XCTUnwrap(blocks.first { $0["phase"] == "Starting" }?["blockId"]?.stringValue)
        try await post("/api/removeBlock", ["blockId": .string(placed)])
        let after = try await post("/api/createBlock", Fixtures.placedBlock(id: "c-late", clusterId: "contended", gpus: 1, minGPUFreeMemory: 16000))
        XCTAssertEqual(after.body["result"]?["phase"], "Starting")
    }

    func testDryRunPlacesWithoutStoring() async throws {
        try await buildNetwork()
        var values = try XCTUnwrap(exampleBlock("mistral7b")["body"]?["spec"]?["values"]?.objectValue)
        values["mode"] = "dry-run"
        let reply = try await post("/api/createBlock", .object(values))
        XCTAssertEqual(reply.body["result"]?["dryRun"], true)
        XCTAssertEqual(reply.body["result"]?["placeable"], true)
        XCTAssertEqual(reply.body["result"]?["placement"]?["clusterId"], "dma-blr-a")
        let stored = try await platform.get("/api/blocks/mistral-chat-88")
        XCTAssertEqual(stored.status, 404)
        let tasks = try await platform.get("/api/tasks")
        XCTAssertFalse(tasks.body.jsonString().contains("createBlock"))
    }

    func testFilterErrorsNameTheConditionAtCreation() async throws {
        try await post("/api/addComponent", Fixtures.chatComponent)
        let block: JSONValue = Fixtures.envelope([
            "blockId": "bad-filter", "blockComponentURI": "model.chat:1.0.0-stable", "minInstances": 1, "maxInstances": 1,
            "policyRulesSpec": [["values": [
                "name": "clusterAllocator", "policyRuleURI": "policy.clusterAllocator.x:v1",
                "parameters": ["filter": [
                    "clusterQuery": ["logicalOperator": "AND", "conditions": [
                        ["variable": "gpus.cnt", "operator": ">=", "value": 1],
                        ["variable": "gpus.count", "operator": "~=", "value": 1],
                        ["variable": "gpus.count", "operator": ">", "value": "lots"],
                    ]],
                    "clusterMetricsQuery": ["variable": "cluster.gpu.totalFreeMem", "operator": "IN", "value": 5],
                ]],
            ]]],
        ])
        let reply = try await post("/api/createBlock", block, expect: 400)
        let paths = Set(reply.body["error"]?["fields"]?.arrayValue?.compactMap { $0["path"]?.stringValue } ?? [])
        let prefix = "body.spec.values.policyRulesSpec[0].values.parameters.filter"
        XCTAssertEqual(paths, [
            "\(prefix).clusterQuery.conditions[0].variable",
            "\(prefix).clusterQuery.conditions[1].operator",
            "\(prefix).clusterQuery.conditions[2].value",
            "\(prefix).clusterMetricsQuery.value",
        ])
        let stored = try await platform.get("/api/blocks/bad-filter")
        XCTAssertEqual(stored.status, 404, "a rejected block is not stored")
    }

    /// A block pinned to `clusterId` whose instances ask for no resources, as a dry run.
    private func dryRunAskingNothing(_ id: String, clusterId: String, instances: Int) async throws -> JSONValue {
        let reply = try await post("/api/createBlock", [
            "blockId": .string(id), "blockComponentURI": "model.chat:1.0.0-stable", "mode": "dry-run",
            "minInstances": .number(Double(instances)), "maxInstances": .number(Double(instances)),
            "policyRulesSpec": [["values": ["name": "clusterAllocator", "policyRuleURI": "policy.clusterAllocator.pin:v1",
                                            "parameters": ["filter": ["clusterQuery": ["variable": "id", "operator": "==", "value": .string(clusterId)]]]]]],
        ])
        return reply.body["result"] ?? .null
    }

    func testInstancesAskingForNothingStillReserveADefaultShare() async throws {
        try await post("/api/addComponent", Fixtures.chatComponent)
        try await post("/api/createCluster", [
            "id": "two-core", "regionId": "r1", "nodes": ["nodeData": [["id": "small", "vcpus": ["count": 2], "memory": 128_000]]],
        ])
        try await post("/api/nodeMetrics", Fixtures.nodeMetrics(cluster: "two-core", node: "small"))
        // 0.1 CPU each: twenty fit on two cores, a thousand do not.
        let thousand = try await dryRunAskingNothing("many", clusterId: "two-core", instances: 1000)
        XCTAssertEqual(thousand["placeable"], false, thousand.jsonString())
        XCTAssertTrue(thousand.jsonString().contains("default reservation"), thousand.jsonString(pretty: true))
        let twenty = try await dryRunAskingNothing("twenty", clusterId: "two-core", instances: 20)
        XCTAssertEqual(twenty["placeable"], true, twenty.jsonString())
        let twentyOne = try await dryRunAskingNothing("twenty-one", clusterId: "two-core", instances: 21)
        XCTAssertEqual(twentyOne["placeable"], false, twentyOne.jsonString())
    }

    func testAnAggregateOverASingleValueIsRefusedAndUnknownNamesAreWarned() async throws {
        try await post("/api/addComponent", Fixtures.chatComponent)
        func block(_ id: String, condition: JSONValue, extra: [String: JSONValue] = [:], policyName: String = "resourceAllocator") -> JSONValue {
            var values: [String: JSONValue] = [
                "blockId": .string(id), "blockComponentURI": "model.chat:1.0.0-stable", "minInstances": 1, "maxInstances": 1, "mode": "dry-run",
                "policyRulesSpec": [
                    ["values": ["name": "clusterAllocator", "policyRuleURI": "policy.clusterAllocator.x:v1", "parameters": ["filter": ["clusterQuery": condition]]]],
                    ["values": ["name": .string(policyName), "policyRuleURI": "policy.resourceAllocator.x:v1", "parameters": [:]]],
                ],
            ]
            values.merge(extra) { _, new in new }
            return Fixtures.envelope(.object(values))
        }
        let single = try await post("/api/createBlock", block("agg-single", condition: ["aggOperator": "sum", "target": "gpus.count", "operator": ">", "value": 1]), expect: 400)
        XCTAssertEqual(single.body["error"]?["fields"]?.arrayValue?.compactMap { $0["path"]?.stringValue },
                       ["body.spec.values.policyRulesSpec[0].values.parameters.filter.clusterQuery.target"], single.body.jsonString())
        try await post("/api/createBlock", block("agg-list", condition: ["aggOperator": "sum", "target": "nodes.nodeData.gpus.count", "operator": ">=", "value": 0]))

        let warned = try await post("/api/createBlock", block("warned", condition: [:], extra: ["replicas": 3], policyName: "resourceAlocator"))
        XCTAssertEqual(warned.body["result"]?["warnings"]?.arrayValue?.compactMap { $0["path"]?.stringValue },
                       ["body.spec.values.replicas", "body.spec.values.policyRulesSpec[1].values.name"], warned.body.jsonString())
        let clean = try await post("/api/createBlock", block("clean", condition: [:]))
        XCTAssertEqual(clean.body["result"]?["warnings"], [], clean.body.jsonString())
        var noted = try XCTUnwrap(Fixtures.chatComponent.objectValue)
        noted["componentId"] = ["name": "noted", "version": "1.0.0", "releaseTag": "stable"]
        noted["componentVersionNotes"] = "extra"
        let component = try await post("/api/addComponent", Fixtures.envelope(.object(noted)))
        XCTAssertEqual(component.body["result"]?["warnings"]?.arrayValue?.compactMap { $0["path"]?.stringValue },
                       ["body.spec.values.componentVersionNotes"], component.body.jsonString())
    }

    func testClusterMetricsAggregateCorrectly() async throws {
        try await post("/api/createCluster", cluster("agg", vendor: "v", nodes: [("n-1", 2, 40960), ("n-2", 1, 24000)]))
        try await post("/api/nodeMetrics", Fixtures.nodeMetrics(cluster: "agg", node: "n-1", load15m: 2, memoryFree: 1000,
            gpus: [(10, 30000, 40960), (20, 20000, 40960)]))
        try await post("/api/nodeMetrics", Fixtures.nodeMetrics(cluster: "agg", node: "n-2", load15m: 4, memoryFree: 3000,
            gpus: [(60, 4000, 24000)]))
        let metrics = try await platform.get("/api/clusters/agg/metrics").body
        XCTAssertEqual(metrics.value(atDottedPath: "cluster.gpu.count"), 3)
        XCTAssertEqual(metrics.value(atDottedPath: "cluster.gpu.totalFreeMem"), 54000)
        XCTAssertEqual(metrics.value(atDottedPath: "cluster.gpu.totalMem"), 105920)
        XCTAssertEqual(metrics.value(atDottedPath: "cluster.gpu.avgCudaUtilization"), 30, "averaged over GPUs, not summed")
        XCTAssertEqual(metrics.value(atDottedPath: "cluster.vcpu.load15m"), 3, "averaged over nodes")
        XCTAssertEqual(metrics.value(atDottedPath: "cluster.vcpu.load_15m"), 3)
        XCTAssertEqual(metrics.value(atDottedPath: "cluster.memory.freeMem"), 4000)
        XCTAssertEqual(metrics["nodes"]?.arrayValue?.count, 2)

        let bad = try await post("/api/nodeMetrics", [
            "clusterId": "agg", "nodeId": "n-1", "metrics": ["gpus": [["gpu_id": "0", "freeMem": 50000, "totalMem": 40960, "cudaUtilization": 150]]],
        ], expect: 400)
        let paths = bad.body["error"]?["fields"]?.arrayValue?.compactMap { $0["path"]?.stringValue } ?? []
        XCTAssertEqual(Set(paths), ["metrics.gpus[0].freeMem", "metrics.gpus[0].cudaUtilization"])
        try await post("/api/nodeMetrics", ["clusterId": "agg", "nodeId": "ghost", "metrics": [:]], expect: 404)
    }

    /// A dry run of one instance on cluster `mixed`, its `resourceAllocator` parameters as given.
    private func dryRunOnMixed(_ id: String, parameters: JSONValue, expect status: Int = 200) async throws -> JSONValue {
        let reply = try await post("/api/createBlock", [
            "blockId": .string(id), "blockComponentURI": "model.chat:1.0.0-stable", "mode": "dry-run", "minInstances": 1, "maxInstances": 1,
            "policyRulesSpec": [
                ["values": ["name": "clusterAllocator", "policyRuleURI": "policy.clusterAllocator.pin:v1",
                            "parameters": ["filter": ["clusterQuery": ["variable": "id", "operator": "==", "value": "mixed"]]]]],
                ["values": ["name": "resourceAllocator", "policyRuleURI": "policy.resourceAllocator.gpu:v1", "parameters": parameters]],
            ],
        ], expect: status)
        return status == 200 ? reply.body["result"] ?? .null : reply.body
    }

    func testNodeSelectorsPickByLabelAndGPUModel() async throws {
        try await post("/api/addComponent", Fixtures.chatComponent)
        try await post("/api/createCluster", [
            "id": "mixed", "regionId": "r1", "nodes": ["nodeData": [
                ["id": "train-1", "vcpus": ["count": 32], "memory": 128_000, "labels": ["pool": "training"],
                 "gpus": ["gpus": [["modelName": "NVIDIA H100 80GB HBM3", "memory": 81920], ["modelName": "NVIDIA H100 80GB HBM3", "memory": 81920]]]],
                ["id": "serve-1", "vcpus": ["count": 32], "memory": 128_000, "labels": ["pool": "inference"],
                 "gpus": ["gpus": [["modelName": "NVIDIA L4", "memory": 24000], ["modelName": "NVIDIA L4", "memory": 24000]]]],
            ]],
        ])
        try await post("/api/nodeMetrics", Fixtures.nodeMetrics(cluster: "mixed", node: "train-1", gpus: [(0, 81000, 81920), (0, 81000, 81920)]))
        try await post("/api/nodeMetrics", Fixtures.nodeMetrics(cluster: "mixed", node: "serve-1", gpus: [(0, 23000, 24000), (0, 23000, 24000)]))
        func node(_ result: JSONValue) -> String? { result["placement"]?["instances"]?.arrayValue?.first?["nodeId"]?.stringValue }

        let inference = try await dryRunOnMixed("by-label", parameters: ["gpus": 1, "node_selector": ["pool": "inference"]])
        XCTAssertEqual(node(inference), "serve-1", inference.jsonString(pretty: true))
        let chosen = inference["report"]?["clusters"]?.arrayValue?.first { $0["outcome"] == "chosen" }
        let nodes = chosen?["nodes"]?.arrayValue ?? []
        XCTAssertEqual(nodes.compactMap { $0["outcome"]?.stringValue }, ["chosen", "rejected"], inference.jsonString(pretty: true))
        let selector = nodes.last?["plugins"]?.arrayValue?.first { $0["plugin"] == "node-selector" }
        XCTAssertEqual(selector?["verdict"], "rejected")
        XCTAssertEqual(selector?["reasons"], ["label pool is \"training\", node_selector needs \"inference\""])

        let h100 = try await dryRunOnMixed("by-model", parameters: ["gpus": 2, "gpu_model": "h100"])
        XCTAssertEqual(node(h100), "train-1", h100.jsonString(pretty: true))
        let either = try await dryRunOnMixed("by-models", parameters: ["gpus": 1, "gpu_models": ["L4", "A10"], "node_selector": ["pool": "inference"]])
        XCTAssertEqual(node(either), "serve-1", either.jsonString(pretty: true))

        let none = try await dryRunOnMixed("no-match", parameters: ["gpus": 1, "gpu_model": "H100", "node_selector": ["pool": "inference"]])
        XCTAssertEqual(none["placeable"], false, none.jsonString(pretty: true))
        XCTAssertTrue(none["report"]?.jsonString().contains("no GPU of model H100; it has NVIDIA L4 ×2") ?? false, none.jsonString(pretty: true))

        let bad = try await dryRunOnMixed("bad-selector", parameters: ["node_selector": ["pool": 1], "gpu_models": "L4"], expect: 400)
        let paths = Set(bad["error"]?["fields"]?.arrayValue?.compactMap { $0["path"]?.stringValue } ?? [])
        XCTAssertEqual(paths, ["policyRulesSpec[1].values.parameters.node_selector.pool", "policyRulesSpec[1].values.parameters.gpu_models"], bad.jsonString())
    }
}
