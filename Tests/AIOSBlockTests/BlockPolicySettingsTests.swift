@testable import AIOSBlock
import AIOSModel
import XCTest

/// `createBlock` checks a block's runtime policies once: every bad value is an error naming its field in
/// the spec, while the settings a running block reads stay lenient.
final class BlockPolicySettingsTests: XCTestCase {
    private func block(_ policies: [String: JSONValue]) -> ResolvedBlock {
        ResolvedBlock(blockInitData: [:], initSettings: [:], parameters: [:], policies: policies, inputProtocol: [:], outputProtocol: [:])
    }

    /// The fields `policies` refuses, as `path: message`.
    private func refused(_ policies: [String: JSONValue], file: StaticString = #filePath, line: UInt = #line) -> [String] {
        do {
            let settings = try BlockPolicySettings(validating: block(policies))
            XCTFail("accepted: \(settings)", file: file, line: line)
            return []
        } catch {
            XCTAssertEqual(error.code, .validationFailed, file: file, line: line)
            return error.fields.map(\.description)
        }
    }

    func testAGoodSpecIsAcceptedWithItsValues() throws {
        let settings = try BlockPolicySettings(validating: block([
            "loadBalancer": ["policyRuleURI": "policy.loadBalancer.roundrobin:v0.0.1", "parameters": ["cache_sessions": true],
                             "settings": ["session_cache_size": 50, "max_inflight_per_instance": 4, "max_queued_requests": 16]],
            "autoscaler": ["policyRuleURI": "policy.autoscaler.gpu-based-autoscaler:v1", "parameters": ["target_gpu_utilization": 0.8],
                           "settings": ["interval_seconds": 2, "scale_up_cooldown": 10, "scale_down_cooldown": 60, "tolerance": 0.2]],
            "stabilityChecker": ["parameters": ["unhealthy_threshold": 2], "settings": ["check_interval_sec": 4, "probe_timeout_sec": 1]],
        ]))
        XCTAssertEqual(settings.executor.balancing, .roundRobin(cacheSessions: true, sessionCacheSize: 50))
        XCTAssertEqual(settings.executor.maxInFlightPerInstance, 4)
        XCTAssertEqual(settings.executor.maxQueued, 16)
        XCTAssertNil(settings.executor.note)
        XCTAssertEqual(settings.autoscaler?.signal, .gpu)
        XCTAssertEqual(settings.autoscaler?.target, 0.8)
        XCTAssertEqual(settings.autoscaler?.interval, 2)
        XCTAssertEqual(settings.autoscaler?.tolerance, 0.2)
        XCTAssertEqual(settings.stability.unhealthyThreshold, 2)
        XCTAssertEqual(settings.stability.checkInterval, 4)
        XCTAssertEqual(settings.stability.probeTimeout, 1)
        XCTAssertEqual(settings.notes, [])
    }

    func testABlockWithoutPoliciesGetsTheDefaults() throws {
        let settings = try BlockPolicySettings(validating: block([:]))
        XCTAssertEqual(settings.executor.maxInFlightPerInstance, ExecutorSettings().maxInFlightPerInstance)
        XCTAssertNil(settings.autoscaler)
        XCTAssertEqual(settings.stability, StabilitySettings())
    }

    func testAnUnknownPolicyURIIsANoteNotAnError() throws {
        let settings = try BlockPolicySettings(validating: block([
            "loadBalancer": ["policyRuleURI": "policy.loadBalancer.my-own:v2"],
            "autoscaler": ["policyRuleURI": "policy.autoscaler.my-scaler:v1"],
        ]))
        XCTAssertEqual(settings.executor.balancing, .roundRobin(cacheSessions: false, sessionCacheSize: 1000))
        XCTAssertEqual(settings.autoscaler?.signal, .cpu)
        XCTAssertTrue(settings.notes.contains { $0.contains("policy.loadBalancer.my-own:v2 is not a built-in load balancer") }, "\(settings.notes)")
        XCTAssertTrue(settings.notes.contains { $0.contains("policy.autoscaler.my-scaler:v1 is not a built-in autoscaler") }, "\(settings.notes)")
    }

    func testBadLoadBalancerValuesAreRefusedByPath() {
        XCTAssertEqual(refused(["loadBalancer": ["policyRuleURI": "policy.loadBalancer.roundrobin:v1", "settings": ["max_queued_requests": 0]]]),
                       ["policies.loadBalancer.settings.max_queued_requests: must be a positive integer, got 0"])
        XCTAssertEqual(refused(["loadBalancer": ["settings": ["max_inflight_per_instance": "many"]]]),
                       ["policies.loadBalancer.settings.max_inflight_per_instance: must be a positive integer, got \"many\""])
        XCTAssertEqual(refused(["loadBalancer": ["policyRuleURI": "policy.loadBalancer.roundrobin:v1", "settings": ["session_cache_size": 2.5]]]),
                       ["policies.loadBalancer.settings.session_cache_size: must be a positive integer, got 2.5"])
        XCTAssertEqual(refused(["loadBalancer": ["policyRuleURI": "policy.loadBalancer.roundrobin:v1", "parameters": ["cache_sessions": "yes"]]]),
                       ["policies.loadBalancer.parameters.cache_sessions: must be true or false, got \"yes\""])
    }

    func testBadAutoscalerValuesAreRefusedByPath() {
        XCTAssertEqual(refused(["autoscaler": ["policyRuleURI": "policy.autoscaler.cpu-usage-autoscaler:v1", "parameters": ["target_cpu_utilization": 70]]]),
                       ["policies.autoscaler.parameters.target_cpu_utilization: must be a number in 0.01...1.0, got 70"])
        XCTAssertEqual(refused(["autoscaler": ["policyRuleURI": "policy.autoscaler.gpu-based-autoscaler:v1", "parameters": ["target_gpu_utilization": 0]]]),
                       ["policies.autoscaler.parameters.target_gpu_utilization: must be a number in 0.01...1.0, got 0"])
        XCTAssertEqual(refused(["autoscaler": ["policyRuleURI": "policy.autoscaler.concurrency-autoscaler:v1", "parameters": ["target_inflight_per_instance": -8]]]),
                       ["policies.autoscaler.parameters.target_inflight_per_instance: must be a number in 0.1...100000.0, got -8"])
        XCTAssertEqual(refused(["autoscaler": ["policyRuleURI": "policy.autoscaler.cpu-usage-autoscaler:v1",
                                               "settings": ["interval_seconds": 0.1, "intervalSeconds": 9999, "scale_up_cooldown": -1,
                                                            "scale_down_cooldown": "2m", "tolerance": 1.5]]]).sorted(), [
            "policies.autoscaler.settings.intervalSeconds: must be a number in 0.5...3600.0, got 9999",
            "policies.autoscaler.settings.interval_seconds: must be a number in 0.5...3600.0, got 0.1",
            "policies.autoscaler.settings.scale_down_cooldown: must be a number in 0.0...86400.0, got \"2m\"",
            "policies.autoscaler.settings.scale_up_cooldown: must be a number in 0.0...86400.0, got -1",
            "policies.autoscaler.settings.tolerance: must be a number in 0.0...1.0, got 1.5",
        ])
    }

    func testBadStabilityCheckerValuesAreRefusedByPath() {
        XCTAssertEqual(refused(["stabilityChecker": ["settings": ["check_interval_sec": 0, "health_check_interval": 7200, "probe_timeout_sec": 61],
                                                     "parameters": ["unhealthy_threshold": 0]]]).sorted(), [
            "policies.stabilityChecker.parameters.unhealthy_threshold: must be a positive integer, got 0",
            "policies.stabilityChecker.settings.check_interval_sec: must be 0.2 to 3600 seconds, got 0",
            "policies.stabilityChecker.settings.health_check_interval: must be 0.2 to 3600 seconds, got 7200",
            "policies.stabilityChecker.settings.probe_timeout_sec: must be above 0 and at most 60 seconds, got 61",
        ])
    }

    func testEveryBadValueOfEveryPolicyIsReportedAtOnce() {
        let fields = refused([
            "loadBalancer": ["settings": ["max_queued_requests": -1]],
            "autoscaler": ["parameters": ["target_cpu_utilization": 2]],
            "stabilityChecker": ["parameters": ["unhealthy_threshold": -3]],
        ])
        XCTAssertEqual(fields.count, 3, "\(fields)")
    }

    func testAMalformedRuleIsRefusedByPath() {
        XCTAssertEqual(refused(["autoscaler": "fast"]), ["policies.autoscaler: expected {policyRuleURI, parameters, settings}, got string"])
        XCTAssertEqual(refused(["loadBalancer": ["policyRuleURI": "policy.autoscaler.cpu-usage-autoscaler:v1"]]),
                       ["policies.loadBalancer.policyRuleURI: names a autoscaler policy but is used as loadBalancer"])
    }

    func testPathsPointIntoTheSubmittedSpec() throws {
        let component = try ComponentSpec(envelope: SpecEnvelope(document: [
            "componentId": ["name": "c", "version": "1", "releaseTag": "t"], "componentType": "model",
            "policies": ["stabilityChecker": ["parameters": ["unhealthy_threshold": 0]]],
        ]))
        let spec = try BlockSpec(envelope: SpecEnvelope(document: [
            "head": ["templateUri": "Parser/V1", "parameters": [:]],
            "body": ["spec": ["values": [
                "blockId": "b", "blockComponentURI": "model.c:1-t", "minInstances": 1, "maxInstances": 2,
                "policyRulesSpec": [
                    ["values": ["name": "autoscaler", "policyRuleURI": "policy.autoscaler.cpu-usage-autoscaler:v1"]],
                    ["values": ["name": "loadBalancer", "policyRuleURI": "policy.loadBalancer.roundrobin:v1",
                                "settings": ["max_queued_requests": -5]]],
                ],
            ]]],
        ]))
        do {
            _ = try BlockPolicySettings(validating: try spec.resolve(with: component), spec: spec)
            XCTFail("bad values accepted")
        } catch {
            XCTAssertEqual(error.fields.map(\.description).sorted(), [
                "(component).policies.stabilityChecker.parameters.unhealthy_threshold: must be a positive integer, got 0",
                "body.spec.values.policyRulesSpec[1].values.settings.max_queued_requests: must be a positive integer, got -5",
            ])
        }
    }

    func testTheLenientReadersStillLoadWhatTheCheckRefuses() {
        let stored = block([
            "loadBalancer": ["settings": ["max_queued_requests": -1]],
            "autoscaler": ["policyRuleURI": "policy.autoscaler.cpu-usage-autoscaler:v1", "settings": ["tolerance": 3]],
            "stabilityChecker": ["parameters": ["unhealthy_threshold": 0]],
        ])
        let executor = ExecutorSettings(block: stored)
        XCTAssertEqual(executor.maxQueued, 1024)
        XCTAssertTrue(executor.note?.contains("settings.max_queued_requests must be a positive integer, got -1; using 1024") == true, executor.note ?? "")
        let autoscaler = AutoscalerSettings(block: stored)
        XCTAssertEqual(autoscaler?.tolerance, 0.1)
        XCTAssertTrue(autoscaler?.notes.contains { $0.contains("settings.tolerance") } == true)
        let stability = StabilitySettings(block: stored)
        XCTAssertEqual(stability.unhealthyThreshold, 3)
        XCTAssertTrue(stability.notes.contains { $0.contains("parameters.unhealthy_threshold") })
    }
}
