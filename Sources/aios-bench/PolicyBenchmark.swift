import AIOSClient
import AIOSModel
import AIOSPlacement
import AIOSPolicy
import AIOSWire
import Foundation
import GRPCCore
import Logging

/// Custom policies against the built-ins, measured in the same run on this machine:
/// - a custom loadBalancer (sandboxed worker, asked per request) versus the built-in round robin, through the
///   gateway of a release `aios up`: sequential `BlockInferenceService/infer` latency on two blocks of the same
///   Swift echo, alternating batches so drift hits both (goal: p50 ≤ 200 µs added per request);
/// - a custom clusterAllocator over 1,000 clusters (selection and post_dry_run) versus the built-in ranking
///   alone, in process on the placement benchmark's synthetic network.
enum PolicyBenchmark {
    static let rounds = 10
    static let callsPerRound = 300

    static let firstInstance = """
        class AIOSv1PolicyRule:
            def __init__(self, rule_id, settings, parameters):
                pass
            def eval(self, parameters, input_data, context):
                return {"instance_id": input_data["instances"][0]}
        """

    static let mostFreeGPU = """
        class AIOSv1PolicyRule:
            def __init__(self, rule_id, settings, parameters):
                pass
            def eval(self, parameters, input_data, context):
                if input_data.get("action") == "post_dry_run":
                    return max(input_data["clusters"], key=lambda c: c["score_data"]["score"])
                ranked = sorted(input_data["filter_result"], key=lambda c: -c["metrics"]["gpu"]["totalFreeMem"])
                return {"clusters": [c["id"] for c in ranked[:3]]}
        """

    static func run() async throws {
        print("\npolicy benchmark (release build; custom policies in bubblewrap workers where it runs, else rlimits only)")
        try await loadBalancer()
        try await clusterAllocator()
    }

    // MARK: loadBalancer through the gateway

    static func loadBalancer() async throws {
        let echo = try await EchoPlatform.start(name: "bench-policy")
        defer { echo.stop() }
        let client = echo.client
        let archive = try tarGz(firstInstance)
        let registered = try await client.post("/api/policies", body: JSONValue.object([
            "name": "policy.loadBalancer.bench-first", "version": "1", "code": ["archive": .string(archive.base64EncodedString())],
        ]).jsonData()).get()
        let uri = registered["result"]?["policy_rule_uri"]?.stringValue ?? "policy.loadBalancer.bench-first:1"
        for (id, balancer) in [("lb-builtin", "policy.loadBalancer.roundrobin:v1"), ("lb-custom", uri)] {
            _ = try await client.post("/api/createBlock", body: JSONValue.object([
                "blockId": .string(id), "blockComponentURI": .string(echo.componentURI), "minInstances": 2, "maxInstances": 2,
                "policyRulesSpec": [["values": ["name": "loadBalancer", "policyRuleURI": .string(balancer)]]],
            ]).jsonData()).get()
        }
        let ready = Date().addingTimeInterval(60)
        while Date() < ready {
            let builtin = try await client.get("/api/blocks/lb-builtin").get()["phase"]?.stringValue
            let custom = try await client.get("/api/blocks/lb-custom").get()["phase"]?.stringValue
            let policy = try await client.get("/api/policies/\(uri)").get()["status"]?.stringValue
            if builtin == "Ready", custom == "Ready", policy == "Ready" { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        var options = CallOptions.defaults
        options.timeout = .seconds(10)
        let callOptions = options
        var builtinSamples: [Double] = [], customSamples: [Double] = []
        try await GatewayBenchmark.connect(echo.platform.grpcAddress, token: echo.platform.token) { grpc in
            let gateway = BlockInferenceService.Client(wrapping: grpc)
            func packet(_ block: String) -> BlockInferencePacket {
                var packet = BlockInferencePacket()
                packet.blockID = block
                packet.sessionID = "bench"
                packet.data = #"{"text":"hello policy"}"#
                return packet
            }
            let builtin = packet("lb-builtin"), custom = packet("lb-custom")
            for _ in 0..<200 {
                _ = try await gateway.infer(builtin, options: callOptions)
                _ = try await gateway.infer(custom, options: callOptions)
            }
            for _ in 0..<rounds {
                for (call, into) in [(builtin, 0), (custom, 1)] {
                    for _ in 0..<callsPerRound {
                        let start = ContinuousClock.now
                        _ = try await gateway.infer(call, options: callOptions)
                        let seconds = start.duration(to: .now).seconds
                        if into == 0 { builtinSamples.append(seconds) } else { customSamples.append(seconds) }
                    }
                }
            }
        }
        let status = try await client.get("/api/policies/\(uri)").get()
        let b = percentiles(builtinSamples), c = percentiles(customSamples)
        print("  loadBalancer, \(builtinSamples.count) sequential gateway calls each (2 instances of the Swift echo):")
        print(String(format: "    p50: custom %.3f ms, built-in round robin %.3f ms: %+.0f µs added per request, ratio %.2fx (goal ≤ 200 µs added)",
                     c.p50 * 1000, b.p50 * 1000, (c.p50 - b.p50) * 1e6, c.p50 / b.p50))
        print(String(format: "    p99: custom %.3f ms, built-in %.3f ms, ratio %.2fx; policy calls %d, failures %d (each failure is a built-in decision)",
                     c.p99 * 1000, b.p99 * 1000, c.p99 / b.p99, status["calls"]?.intValue ?? -1, status["failures"]?.intValue ?? -1))
    }

    // MARK: clusterAllocator over 1,000 clusters

    static func clusterAllocator() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("aios-bench-policy-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: directory) }
        var logger = Logger(label: "bench")
        logger.logLevel = .warning
        let python = StartupBenchmark.repository.appendingPathComponent(".venv/bin/python").path
        var policies: CustomPolicies?
        var host: PolicyHost?
        for sandbox in [PolicySandboxMode.bwrap, .rlimitsOnly] {
            let candidate = CustomPolicies(configuration: .init(python: python, sandbox: sandbox, directory: directory), logger: logger)
            if case .success(let prepared) = await candidate.host() {
                policies = candidate
                host = prepared
                break
            }
        }
        guard let policies, let host else { throw StartupBenchmark.Failure(description: "custom policies cannot run here (no aios_policy in .venv?)") }
        defer { Task { await policies.shutdown() } }
        let archive = try await PolicyArchives(host: host).store(try tarGz(mostFreeGPU), field: FieldPath(dotted: "code"))
        let uri = "policy.clusterAllocator.bench-most-free:1"
        await policies.register(.init(definition: PolicyDefinition(uri: uri, kind: .clusterAllocator, name: uri, version: "1", releaseTag: nil,
                                                                   settings: [:], parameters: [:], extras: [:]), archive: archive))
        let network = PlacementBenchmark.network(clusters: 1000)
        let request = PlacementRequest(blockId: "bench", instances: 1, selection: ClusterSelection(),
                                       resources: ResourceRequest(gpus: 1, maxGPUUtilization: 0.9, minGPUFreeMemory: 8000))
        let rule = PolicyRule(kind: .clusterAllocator, uri: uri, parameters: [:], settings: [:], location: .root)
        let guide = CustomPlacement(policies: policies, blockId: "bench", clusterRule: rule, resourceRule: nil, action: "allocation")

        func builtIn() -> Bool {
            if case .placed = Placer.place(request, in: network.snapshot, reservations: network.reservations, newInstanceId: { "i" }) { return true }
            return false
        }
        func custom() async -> (Bool, Bool) {
            let guided = await guide.guide(request, snapshot: network.snapshot, reservations: network.reservations)
            let placed: Bool
            if case .placed = Placer.place(guided, in: network.snapshot, reservations: network.reservations, newInstanceId: { "i" }) { placed = true } else { placed = false }
            return (placed, guided.clusterOrder != nil)
        }
        _ = await custom()
        var baseline: [Double] = [], measured: [Double] = []
        var placed = 0, decidedByPolicy = 0
        for _ in 0..<20 {
            var start = ContinuousClock.now
            if builtIn() { placed += 1 }
            baseline.append(start.duration(to: .now).seconds)
            start = ContinuousClock.now
            let (ok, byPolicy) = await custom()
            measured.append(start.duration(to: .now).seconds)
            if ok { placed += 1 }
            if byPolicy { decidedByPolicy += 1 }
        }
        let b = percentiles(baseline), c = percentiles(measured)
        print("  clusterAllocator over 1000 clusters (selection over every cluster's document and metrics, then post_dry_run of its 3):")
        print(String(format: "    p50: with the custom policy %.1f ms, built-in ranking alone %.1f ms: %+.1f ms added, ratio %.1fx; %d of 20 decided by the policy",
                     c.p50 * 1000, b.p50 * 1000, (c.p50 - b.p50) * 1000, c.p50 / b.p50, decidedByPolicy))
        if placed == 0 { print("    (nothing placed: the synthetic network had no room)") }
    }

    // MARK: Helpers

    static func percentiles(_ samples: [Double]) -> (p50: Double, p99: Double) {
        let sorted = samples.sorted()
        guard !sorted.isEmpty else { return (0, 0) }
        return (sorted[sorted.count / 2], sorted[min(sorted.count - 1, sorted.count * 99 / 100)])
    }

    /// A `.tar.gz` holding `code/function.py`.
    static func tarGz(_ source: String) throws -> Data {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("aios-bench-archive-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: root) }
        try FileManager.default.createDirectory(at: root.appendingPathComponent("code"), withIntermediateDirectories: true)
        try Data(source.utf8).write(to: root.appendingPathComponent("code/function.py"))
        let tar = Process()
        tar.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        tar.arguments = ["tar", "-czf", root.appendingPathComponent("p.tgz").path, "-C", root.path, "code"]
        try tar.run()
        tar.waitUntilExit()
        return try Data(contentsOf: root.appendingPathComponent("p.tgz"))
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
