@testable import AIOSBlock
import AIOSModel
import XCTest

final class AutoscalerTests: XCTestCase {
    private func cpu(_ values: [Double]) -> [Autoscaler.InstanceSignal] {
        values.enumerated().map { Autoscaler.InstanceSignal(instanceId: "i\($0.offset)", cpu: $0.element, gpu: nil, load: 0) }
    }

    private let settings = AutoscalerSettings(signal: .cpu, target: 0.5, scaleUpCooldown: 30, scaleDownCooldown: 120)

    func testScalesProportionallyToTheSignalWithinBounds() {
        let up = Autoscaler.decide(current: 2, minInstances: 1, maxInstances: 10, settings: settings, signals: cpu([1.0, 1.0]), sinceScaleUp: 999, sinceScaleDown: 999)
        XCTAssertEqual(up?.desired, 4)
        XCTAssertTrue(up?.reason.contains("CPU utilisation 1.00 against target 0.50") == true, up?.reason ?? "")
        let capped = Autoscaler.decide(current: 2, minInstances: 1, maxInstances: 3, settings: settings, signals: cpu([1.0, 1.0]), sinceScaleUp: 999, sinceScaleDown: 999)
        XCTAssertEqual(capped?.desired, 3, "never above maxInstances")
        let down = Autoscaler.decide(current: 4, minInstances: 2, maxInstances: 10, settings: settings, signals: cpu([0, 0, 0, 0]), sinceScaleUp: 999, sinceScaleDown: 999)
        XCTAssertEqual(down?.desired, 2, "never below minInstances")
    }

    func testBoundsWinOverAnyPolicy() {
        XCTAssertEqual(Autoscaler.decide(current: 1, minInstances: 3, maxInstances: 5, settings: settings, signals: [], sinceScaleUp: 0, sinceScaleDown: 0)?.desired, 3)
        XCTAssertEqual(Autoscaler.decide(current: 7, minInstances: 1, maxInstances: 5, settings: settings, signals: [], sinceScaleUp: 0, sinceScaleDown: 0)?.desired, 5)
    }

    func testOutOfRangeSettingsCannotOverflow() {
        let huge = Autoscaler.decide(current: 1, minInstances: 1, maxInstances: 4, settings: AutoscalerSettings(signal: .concurrency, target: 0.1),
                                     signals: [Autoscaler.InstanceSignal(instanceId: "a", cpu: nil, gpu: nil, load: Int.max / 2)], sinceScaleUp: 999, sinceScaleDown: 999)
        XCTAssertEqual(huge?.desired, 4)
        let executor = ExecutorSettings(block: ResolvedBlock(blockInitData: [:], initSettings: ["timeout_ms": 1e30], parameters: [:], policies: [:], inputProtocol: [:], outputProtocol: [:]))
        XCTAssertEqual(executor.defaultTimeout, ExecutorSettings.defaultTimeout)
        XCTAssertTrue(executor.note?.contains("timeout_ms") == true)
        let stability = StabilitySettings(block: ResolvedBlock(blockInitData: [:], initSettings: [:], parameters: [:], policies: [
            "stabilityChecker": ["settings": ["check_interval_sec": 1e30, "probe_timeout_sec": 1e30]],
        ], inputProtocol: [:], outputProtocol: [:]))
        XCTAssertEqual(stability.checkInterval, 10)
        XCTAssertLessThanOrEqual(stability.probeTimeout, 10)
    }

    func testWithinToleranceNothingChanges() {
        let steady = Autoscaler.decide(current: 3, minInstances: 1, maxInstances: 10, settings: settings, signals: cpu([0.52, 0.5, 0.53]), sinceScaleUp: 999, sinceScaleDown: 999)
        XCTAssertEqual(steady?.desired, 3)
    }

    func testCooldownsHoldTheSize() {
        let up = Autoscaler.decide(current: 1, minInstances: 1, maxInstances: 4, settings: settings, signals: cpu([1.0]), sinceScaleUp: 10, sinceScaleDown: 999)
        XCTAssertEqual(up?.desired, 1)
        XCTAssertTrue(up?.reason.contains("scale-up waits for its cooldown") == true)
        // A scale-down waits scale_down_cooldown after any change, a scale-up included.
        let down = Autoscaler.decide(current: 3, minInstances: 1, maxInstances: 4, settings: settings, signals: cpu([0, 0, 0]), sinceScaleUp: 60, sinceScaleDown: 999)
        XCTAssertEqual(down?.desired, 3)
        XCTAssertTrue(down?.reason.contains("scale-down waits for its cooldown") == true)
    }

    func testGPUPolicyFallsBackToCPUWithoutGPUs() {
        let gpu = AutoscalerSettings(signal: .gpu, target: 0.5)
        let decision = Autoscaler.decide(current: 1, minInstances: 1, maxInstances: 4, settings: gpu, signals: cpu([1.0]), sinceScaleUp: 999, sinceScaleDown: 999)
        XCTAssertEqual(decision?.desired, 2)
        XCTAssertNotNil(decision?.fallback)
        let withGPUs = [Autoscaler.InstanceSignal(instanceId: "a", cpu: 0.1, gpu: 0.9, load: 0)]
        let onGPU = Autoscaler.decide(current: 1, minInstances: 1, maxInstances: 4, settings: gpu, signals: withGPUs, sinceScaleUp: 999, sinceScaleDown: 999)
        XCTAssertEqual(onGPU?.desired, 2)
        XCTAssertNil(onGPU?.fallback)
        XCTAssertTrue(onGPU?.reason.contains("GPU utilisation 0.90") == true)
    }

    func testConcurrencyPolicyCountsRequestsPerInstance() {
        let concurrency = AutoscalerSettings(signal: .concurrency, target: 2)
        let signals = (0..<2).map { Autoscaler.InstanceSignal(instanceId: "i\($0)", cpu: nil, gpu: nil, load: 5) }
        XCTAssertEqual(Autoscaler.decide(current: 2, minInstances: 1, maxInstances: 10, settings: concurrency, signals: signals, sinceScaleUp: 999, sinceScaleDown: 999)?.desired, 5)
    }

    func testSeedPolicyURIsAndSettingsAreRead() {
        func settings(_ policy: JSONValue) -> AutoscalerSettings? {
            AutoscalerSettings(block: ResolvedBlock(blockInitData: [:], initSettings: [:], parameters: [:], policies: ["autoscaler": policy], inputProtocol: [:], outputProtocol: [:]))
        }
        let large = settings(["policyRuleURI": "policy.autoscaler.large-model-autoscaler:v0.0.1", "parameters": ["target_gpu_utilization": 0.75],
                              "settings": ["scale_up_cooldown": 120, "scale_down_cooldown": 600]])
        XCTAssertEqual(large?.signal, .gpu)
        XCTAssertEqual(large?.target, 0.75)
        XCTAssertEqual(large?.scaleUpCooldown, 120)
        XCTAssertEqual(large?.scaleDownCooldown, 600)
        XCTAssertEqual(large?.interval, 5)
        let cpu = settings(["policyRuleURI": "policy.autoscaler.cpu-usage-autoscaler:v0.0.1", "parameters": ["target_cpu_utilization": 7]])
        XCTAssertEqual(cpu?.target, 0.7, "an out-of-range target falls back to the default")
        XCTAssertTrue(cpu?.notes.first?.contains("target_cpu_utilization") == true)
        XCTAssertNil(AutoscalerSettings(block: ResolvedBlock(blockInitData: [:], initSettings: [:], parameters: [:], policies: [:], inputProtocol: [:], outputProtocol: [:])))
        let stability = StabilitySettings(block: ResolvedBlock(blockInitData: [:], initSettings: [:], parameters: [:], policies: [
            "stabilityChecker": ["policyRuleURI": "policy.stabilityChecker.health-checker:v0.0.1", "parameters": ["unhealthy_threshold": 3], "settings": ["check_interval_sec": 10]],
        ], inputProtocol: [:], outputProtocol: [:]))
        XCTAssertEqual(stability.unhealthyThreshold, 3)
        XCTAssertEqual(stability.checkInterval, 10)
    }

    func testRequestStatsWindows() {
        var stats = RequestStats()
        let now = 1_000_000.0
        for index in 0..<100 { stats.record(seconds: Double(index + 1) / 1000, failed: index == 0, now: now - 30) }
        stats.record(seconds: 5, failed: false, now: now - 400)
        let minute = stats.summary(window: 60, now: now)
        XCTAssertEqual(minute.count, 100)
        XCTAssertEqual(minute.errors, 1)
        XCTAssertEqual(minute.p50 ?? 0, 0.050, accuracy: 0.01)
        XCTAssertEqual(minute.p99 ?? 0, 0.099, accuracy: 0.02)
        XCTAssertEqual(stats.summary(window: 900, now: now).count, 101)
        XCTAssertNil(stats.summary(window: 60, now: now + 3600).p50, "old slots drop out of the window")
    }
}
