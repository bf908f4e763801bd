import AIOSModel
import Foundation
import GRPCCore
import XCTest

/// Autoscaling and the stability checker against a real `aios up`, with the Swift echo block as the
/// CPU-burning test component (`{"burn_ms": N}` keeps a CPU busy).
final class ScalingTests: EchoPlatformTestCase {
    override class var directoryName: String { "scaling" }

    private func createBlock(_ id: String, min: Int, max: Int, policies: [JSONValue]) async throws {
        let values: JSONValue = [
            "blockId": .string(id), "blockComponentURI": "model.chat:1.0.0-stable",
            "minInstances": .number(Double(min)), "maxInstances": .number(Double(max)),
            "policyRulesSpec": .array(policies.map { ["values": $0] }),
        ]
        let reply = try await platform.post("/api/createBlock", json: values)
        XCTAssertEqual(reply.status, 200, reply.body.jsonString())
        try await platform.waitForPhase(id, "Ready")
    }

    private func size(_ id: String) async throws -> Int {
        try await platform.get("/api/blocks/\(id)").body["placement"]?["instances"]?.arrayValue?.count ?? -1
    }

    private func events(_ id: String, _ type: String) async throws -> [String] {
        (try await platform.get("/api/blocks/\(id)").body["events"]?.arrayValue ?? [])
            .filter { $0["type"]?.stringValue == type }.compactMap { $0["message"]?.stringValue }
    }

    /// A stop condition for `load`: the block's instance count satisfies `done`, or `seconds` passed.
    private func until(_ id: String, within seconds: Double = 40, _ done: @escaping @Sendable (Int) -> Bool) -> @Sendable () async -> Bool {
        let platform = self.platform!, started = Date()
        return {
            let size = (try? await platform.get("/api/blocks/\(id)").body["placement"]?["instances"]?.arrayValue?.count) ?? 0
            return done(size) || Date().timeIntervalSince(started) > seconds
        }
    }

    /// Runs `clients` callers sending `data` until `stop` says so; returns every outcome.
    private func load(_ block: String, clients: Int, data: JSONValue, until stop: @escaping @Sendable () async -> Bool) async throws -> [GatewayClient.Outcome] {
        try await GatewayClient.with(platform) { gateway in
            await withTaskGroup(of: [GatewayClient.Outcome].self) { group in
                for client in 0..<clients {
                    group.addTask {
                        var outcomes: [GatewayClient.Outcome] = []
                        while await !stop() {
                            outcomes.append(await gateway.infer(block: block, session: "client-\(client)", data: data, timeout: .seconds(20)))
                        }
                        return outcomes
                    }
                }
                var all: [GatewayClient.Outcome] = []
                for await outcomes in group { all += outcomes }
                return all
            }
        }
    }

    func testLoadScalesUpToMaxAndIdleScalesBackAfterTheCooldown() async throws {
        try await createBlock("burner", min: 1, max: 2, policies: [
            ["name": "autoscaler", "policyRuleURI": "policy.autoscaler.cpu-usage-autoscaler:v0.0.1",
             "parameters": ["target_cpu_utilization": 0.3], "settings": ["interval_seconds": 1, "scale_up_cooldown": 2, "scale_down_cooldown": 3]],
        ])
        let largest = Largest()
        let outcomes = try await load("burner", clients: 3, data: ["burn_ms": 150], until: until("burner") { size in
            largest.see(size)
            return size >= 2
        })
        let sizeUnderLoad = try await size("burner")
        XCTAssertEqual(sizeUnderLoad, 2, "load scales the block up")
        XCTAssertLessThanOrEqual(largest.value, 2, "never above maxInstances")
        XCTAssertTrue(outcomes.allSatisfy { $0.data != nil }, outcomes.compactMap { $0.code.map { "\($0)" } }.joined(separator: ", "))
        let scaledUp = try await events("burner", "ScaledUp")
        XCTAssertEqual(scaledUp.count, 1, "\(scaledUp)")
        XCTAssertTrue(scaledUp.first?.contains("CPU utilisation") == true, "the event gives the signal: \(scaledUp)")

        // Idle: back to minInstances once the scale-down cooldown has passed.
        let idle = Date()
        try await platform.waitForBlock("burner", timeout: 30) { $0["placement"]?["instances"]?.arrayValue?.count == 1 }
        XCTAssertGreaterThanOrEqual(Date().timeIntervalSince(idle), 1, "not before the cooldown")
        let scaledDown = try await events("burner", "ScaledDown")
        XCTAssertEqual(scaledDown.count, 1, "no flapping: \(scaledDown)")
        let scaleUps = try await events("burner", "ScaledUp").count
        XCTAssertEqual(scaleUps, 1, "no flapping")
        let metrics = try await platform.get("/api/blocks/burner/metrics").body
        XCTAssertGreaterThan(metrics["block"]?["requestsTotal"]?.intValue ?? 0, 0, metrics.jsonString())
        XCTAssertNotNil(metrics["instances"]?.arrayValue?.first?["rssBytes"]?.numberValue, metrics.jsonString())
    }

    func testABlockThatCannotFitASecondInstanceStaysAtOneAndSaysWhy() async throws {
        try await createBlock("wide", min: 1, max: 3, policies: [
            ["name": "resourceAllocator", "policyRuleURI": "policy.resourceAllocator.cpu:v1", "parameters": ["cpus": .number(Double(ProcessInfo.processInfo.activeProcessorCount))]],
            ["name": "autoscaler", "policyRuleURI": "policy.autoscaler.concurrency-autoscaler:v1",
             "parameters": ["target_inflight_per_instance": 1], "settings": ["interval_seconds": 1, "scale_up_cooldown": 1]],
        ])
        let platform = self.platform!
        let started = Date()
        _ = try await load("wide", clients: 4, data: ["sleep_ms": 300]) {
            let blocked = (try? await platform.get("/api/blocks/wide").body["events"]?.arrayValue?.contains { $0["type"]?.stringValue == "ScaleUpBlocked" }) ?? false
            return blocked || Date().timeIntervalSince(started) > 30
        }
        let sizeWhenFull = try await size("wide")
        XCTAssertEqual(sizeWhenFull, 1)
        let blocked = try await events("wide", "ScaleUpBlocked")
        XCTAssertFalse(blocked.isEmpty)
        XCTAssertTrue(blocked.first?.contains("CPUs") == true, "the event explains what does not fit: \(blocked)")
        let block = try await platform.get("/api/blocks/wide").body
        XCTAssertEqual(block["instances"]?.arrayValue?.count, 1, "no instance is left pending")
    }

    func testAnInstanceReportingUnhealthyLeavesRotationAndComesBack() async throws {
        try await createBlock("fragile", min: 1, max: 1, policies: [
            ["name": "stabilityChecker", "policyRuleURI": "policy.stabilityChecker.health-checker:v0.0.1",
             "parameters": ["unhealthy_threshold": 2], "settings": ["check_interval_sec": 0.5]],
        ])
        let answer = try await platform.post("/api/executeMgmtCommand", json: ["blockId": "fragile", "mgmtCommand": "set_health", "mgmtData": ["status": "unhealthy"]])
        XCTAssertEqual(answer.body["success"], true, answer.body.jsonString())
        let degraded = try await platform.waitForPhase("fragile", "Degraded", timeout: 10)
        XCTAssertTrue(degraded["reason"]?.stringValue?.contains("Health answered \"unhealthy\"") ?? false, degraded.jsonString(pretty: true))
        try await GatewayClient.with(platform) { gateway in
            let began = Date()
            let outcome = await gateway.infer(block: "fragile", data: ["text": "anyone?"], timeout: .seconds(20))
            XCTAssertEqual(outcome.code, .unavailable, outcome.message)
            XCTAssertTrue(outcome.message.contains("report unhealthy"), outcome.message)
            XCTAssertLessThan(Date().timeIntervalSince(began), 2, "fails at once, not at the deadline")
        }
        _ = try await platform.post("/api/executeMgmtCommand", json: ["blockId": "fragile", "mgmtCommand": "set_health", "mgmtData": ["status": "healthy"]])
        let back = try await platform.waitForPhase("fragile", "Ready", timeout: 10)
        XCTAssertEqual(back["instances"]?.arrayValue?.first?["restarts"], 0, "an instance that answers is not restarted")
        let events = (back["events"]?.arrayValue ?? []).compactMap { $0["type"]?.stringValue }
        XCTAssertTrue(events.contains("InstanceUnhealthy") && events.contains("InstanceHealthy"), "\(events)")
        try await GatewayClient.with(platform) { gateway in
            let outcome = await gateway.infer(block: "fragile", data: ["text": "back"])
            XCTAssertEqual(outcome.data?["text"], "BACK", outcome.message)
        }
    }

    func testAnInstanceThatStopsAnsweringIsReplacedAfterTheThreshold() async throws {
        try await createBlock("stuck", min: 1, max: 1, policies: [
            ["name": "stabilityChecker", "policyRuleURI": "policy.stabilityChecker.health-checker:v0.0.1",
             "parameters": ["unhealthy_threshold": 2], "settings": ["check_interval_sec": 0.5, "probe_timeout_sec": 0.3]],
        ])
        let answer = try await platform.post("/api/executeMgmtCommand", json: ["blockId": "stuck", "mgmtCommand": "set_health", "mgmtData": ["status": "hang"]])
        XCTAssertEqual(answer.body["success"], true, answer.body.jsonString())
        let replaced = try await platform.waitForBlock("stuck", timeout: 20) { block in
            block["phase"]?.stringValue == "Ready" && block["instances"]?.arrayValue?.first?["restarts"]?.intValue == 1
                && block["instances"]?.arrayValue?.first?["healthy"]?.boolValue == true
        }
        let events = (replaced["events"]?.arrayValue ?? []).compactMap { $0["type"]?.stringValue }
        XCTAssertEqual(events.filter { $0 == "HealthCheckFailed" }.count, 1, "\(events)")
        XCTAssertTrue(events.contains("InstanceReplaced"), "\(events)")
        XCTAssertTrue(events.contains("Degraded"), "below minInstances healthy while it is replaced: \(events)")
        try await GatewayClient.with(platform) { gateway in
            let outcome = await gateway.infer(block: "stuck", data: ["text": "back"])
            XCTAssertEqual(outcome.data?["text"], "BACK", outcome.message)
        }
    }

    func testScalingDownUnderLoadLosesNoRequest() async throws {
        try await createBlock("elastic", min: 1, max: 3, policies: [
            ["name": "autoscaler", "policyRuleURI": "policy.autoscaler.concurrency-autoscaler:v1",
             "parameters": ["target_inflight_per_instance": 2], "settings": ["interval_seconds": 1, "scale_up_cooldown": 1, "scale_down_cooldown": 2]],
        ])
        // Six callers: scales up to three instances.
        let busy = try await load("elastic", clients: 6, data: ["sleep_ms": 200], until: until("elastic") { $0 >= 3 })
        let sizeUnderLoad = try await size("elastic")
        XCTAssertEqual(sizeUnderLoad, 3)
        // One caller keeps going while the block scales back down under it.
        let light = try await load("elastic", clients: 1, data: ["sleep_ms": 50], until: until("elastic") { $0 <= 1 })
        let sizeWhenCalm = try await size("elastic")
        XCTAssertEqual(sizeWhenCalm, 1)
        let failed = (busy + light).filter { $0.data == nil }
        XCTAssertEqual(failed.count, 0, "no request is lost while instances are removed: \(failed.prefix(3).map(\.message))")
        XCTAssertGreaterThan(light.count, 5)
        let scaledDown = try await events("elastic", "ScaledDown")
        XCTAssertTrue(scaledDown.allSatisfy { $0.contains("drained") }, "\(scaledDown)")
    }

    func testAScaledBlockComesBackAtItsSizeAfterARestart() async throws {
        try await createBlock("kept", min: 1, max: 2, policies: [
            ["name": "autoscaler", "policyRuleURI": "policy.autoscaler.concurrency-autoscaler:v1",
             "parameters": ["target_inflight_per_instance": 1], "settings": ["interval_seconds": 1, "scale_up_cooldown": 1, "scale_down_cooldown": 3600]],
        ])
        _ = try await load("kept", clients: 4, data: ["sleep_ms": 200], until: until("kept", within: 30) { $0 >= 2 })
        let platform = self.platform!
        let before = try await platform.waitForBlock("kept") { block in
            (block["instances"]?.arrayValue ?? []).filter { $0["healthy"]?.boolValue == true }.count == 2
        }
        let ids = Set((before["placement"]?["instances"]?.arrayValue ?? []).compactMap { $0["instanceId"]?.stringValue })
        XCTAssertEqual(ids.count, 2)
        platform.stop()
        self.platform = try PlatformProcess(dataDirectory: directory)
        let after = try await self.platform.waitForBlock("kept") { block in
            block["phase"]?.stringValue == "Ready" && (block["instances"]?.arrayValue ?? []).filter { $0["healthy"]?.boolValue == true }.count == 2
        }
        XCTAssertEqual(Set((after["placement"]?["instances"]?.arrayValue ?? []).compactMap { $0["instanceId"]?.stringValue }), ids,
                       "the scaled-up instances are part of the stored placement")
        XCTAssertEqual(InstanceProcesses.running(blockId: "kept", dataDirectory: directory).count, 2, "exactly its instances run again")
    }

    func testPrometheusMetricsDescribeBlocksInstancesAndNodes() async throws {
        try await createBlock("observed", min: 1, max: 1, policies: [])
        try await GatewayClient.with(platform) { gateway in
            for _ in 0..<5 { _ = await gateway.infer(block: "observed", data: ["text": "x"]) }
        }
        let run = try Command.run(["curl", "-s", "\(platform.url)/metrics"], environment: platform.auth)
        for series in [#"aios_block_instances{block="observed"} 1"#, #"aios_gateway_requests_total{block="observed"} 5"#,
                       #"aios_instance_healthy{block="observed""#, #"aios_node_load15{cluster="local",node="local"}"#,
                       #"aios_gateway_request_latency_seconds{block="observed",quantile="0.99",window="1m"}"#, "# TYPE aios_gateway_requests_total counter"] {
            XCTAssertTrue(run.stdout.contains(series), "missing \(series) in:\n\(run.stdout)")
        }
        let top = try Command.run([PlatformProcess.executable.path, "top", "--once", "--server", platform.url], environment: platform.auth)
        XCTAssertEqual(top.status, 0, top.stderr)
        XCTAssertTrue(top.stdout.contains("observed"), top.stdout)
    }
}

/// The largest value seen, across tasks.
final class Largest: @unchecked Sendable {
    private let lock = NSLock()
    private var largest = 0
    func see(_ value: Int) { lock.lock(); largest = max(largest, value); lock.unlock() }
    var value: Int { lock.lock(); defer { lock.unlock() }; return largest }
}
