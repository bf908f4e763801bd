import AIOSModel
import AIOSPolicy

/// A block's `stabilityChecker` policy: how often each instance's `Health` is probed, and after how many
/// consecutive failures (no answer, or a status other than healthy) the instance is replaced.
public struct StabilitySettings: Sendable, Equatable {
    public var checkInterval: Double
    public var unhealthyThreshold: Int
    public var probeTimeout: Double
    public var notes: [String]

    public init(checkInterval: Double = 10, unhealthyThreshold: Int = 3, probeTimeout: Double = 5, notes: [String] = []) {
        self.checkInterval = checkInterval
        self.unhealthyThreshold = unhealthyThreshold
        self.probeTimeout = probeTimeout
        self.notes = notes
    }

    /// Every block is checked; its policy (if any) tunes the check. A bad value falls back to its default
    /// and the notes say so; `BlockPolicySettings(validating:)` refuses it instead.
    public init(block: ResolvedBlock) {
        var reader = PolicyValueReader()
        self.init(rule: (try? PolicyRule.read(block.policies, kind: .stabilityChecker, location: .root)) ?? nil, reader: &reader)
        notes = reader.notes
    }

    /// Reads `rule` (the block's `stabilityChecker` policy, if any); what is wrong with its values goes to `reader`.
    init(rule: PolicyRule?, reader: inout PolicyValueReader) {
        self.init()
        guard let rule else { return }
        // AIOS's examples write check_interval_sec; its checker read health_check_interval. Both work here.
        for key in ["check_interval_sec", "health_check_interval"] {
            checkInterval = reader.number(rule.settings, "settings", key, default: checkInterval, must: "0.2 to 3600 seconds",
                                          accepts: (0.2...3600).contains)
        }
        unhealthyThreshold = reader.positiveInteger(rule.parameters, "parameters", "unhealthy_threshold", default: unhealthyThreshold)
        probeTimeout = reader.number(rule.settings, "settings", "probe_timeout_sec", default: probeTimeout,
                                     must: "above 0 and at most 60 seconds", accepts: { $0 > 0 && $0 <= 60 })
        probeTimeout = min(probeTimeout, max(checkInterval, 0.2))
    }
}
