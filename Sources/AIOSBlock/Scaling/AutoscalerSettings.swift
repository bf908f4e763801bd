import AIOSModel
import AIOSPolicy

/// A block's `autoscaler` policy as the runtime applies it.
public struct AutoscalerSettings: Sendable, Equatable {
    public enum Signal: String, Sendable, Equatable {
        /// CPU use of the instances' processes against the CPUs each was allocated.
        case cpu
        /// GPU utilisation of the instances' GPUs; CPU where the instances have none.
        case gpu
        /// Requests in flight or queued per instance.
        case concurrency
    }

    public var signal: Signal
    /// The utilisation (0–1) or in-flight count per instance the autoscaler steers to.
    public var target: Double
    public var interval: Double
    public var scaleUpCooldown: Double
    public var scaleDownCooldown: Double
    /// Within this fraction of the target, nothing changes (no flapping on noise).
    public var tolerance: Double
    public var policyURI: String
    public var notes: [String]

    public static let defaultInterval = 5.0

    public init(signal: Signal = .cpu, target: Double = 0.7, interval: Double = Self.defaultInterval, scaleUpCooldown: Double = 30,
                scaleDownCooldown: Double = 120, tolerance: Double = 0.1, policyURI: String = "", notes: [String] = []) {
        self.signal = signal
        self.target = target
        self.interval = interval
        self.scaleUpCooldown = scaleUpCooldown
        self.scaleDownCooldown = scaleDownCooldown
        self.tolerance = tolerance
        self.policyURI = policyURI
        self.notes = notes
    }

    /// `nil` when the block has no autoscaler policy (it stays at `minInstances`). A bad value falls back
    /// to its default and the notes say so; `BlockPolicySettings(validating:)` refuses it instead.
    public init?(block: ResolvedBlock) {
        guard let rule = (try? PolicyRule.read(block.policies, kind: .autoscaler, location: .root)) ?? nil else { return nil }
        var reader = PolicyValueReader()
        self.init(rule: rule, reader: &reader)
        notes = reader.notes
    }

    /// Reads `rule` (the block's `autoscaler` policy); what is wrong with its values goes to `reader`.
    init(rule: PolicyRule, reader: inout PolicyValueReader) {
        self.init(policyURI: rule.uri ?? "")
        let name = ExecutorSettings.policyName(rule.uri ?? "")
        switch name {
        case "gpu-based-autoscaler", "large-model-autoscaler", "gpu-usage-autoscaler":
            signal = .gpu
            target = reader.number(rule.parameters, "parameters", "target_gpu_utilization", in: 0.01...1, default: 0.7)
        case "concurrency-autoscaler", "inflight-autoscaler", "concurrency":
            signal = .concurrency
            target = reader.number(rule.parameters, "parameters", "target_inflight_per_instance", in: 0.1...100_000, default: 8)
        default:
            if name != "cpu-usage-autoscaler" {
                reader.remarks.append("\(rule.uri ?? "no URI") is not a built-in autoscaler; scaling on CPU (built-ins: cpu-usage-autoscaler, gpu-based-autoscaler, large-model-autoscaler, concurrency-autoscaler)")
            }
            signal = .cpu
            target = reader.number(rule.parameters, "parameters", "target_cpu_utilization", in: 0.01...1, default: 0.7)
        }
        if rule.parameters["target_inflight_per_instance"] != nil && signal != .concurrency {
            reader.remarks.append("target_inflight_per_instance applies to the concurrency autoscaler only")
        }
        let legacyInterval = reader.number(rule.settings, "settings", "intervalSeconds", in: 0.5...3600, default: Self.defaultInterval)
        interval = reader.number(rule.settings, "settings", "interval_seconds", in: 0.5...3600, default: legacyInterval)
        scaleUpCooldown = reader.number(rule.settings, "settings", "scale_up_cooldown", in: 0...86400, default: 30)
        scaleDownCooldown = reader.number(rule.settings, "settings", "scale_down_cooldown", in: 0...86400, default: 120)
        tolerance = reader.number(rule.settings, "settings", "tolerance", in: 0...1, default: 0.1)
    }
}
