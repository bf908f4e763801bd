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

    /// Every block is checked; its policy (if any) tunes the check.
    public init(block: ResolvedBlock) {
        self.init()
        guard let rule = (try? PolicyRule.read(block.policies, kind: .stabilityChecker, location: .root)) ?? nil else { return }
        // AIOS's examples write check_interval_sec; its checker read health_check_interval. Both work here.
        for key in ["check_interval_sec", "health_check_interval"] {
            guard let value = rule.settings[key] else { continue }
            if let seconds = value.numberValue, (0.2...3600).contains(seconds) { checkInterval = seconds } else { notes.append("settings.\(key) must be 0.2 to 3600 seconds; using \(checkInterval)") }
        }
        if let value = rule.parameters["unhealthy_threshold"] {
            if let count = value.intValue, count >= 1 { unhealthyThreshold = count } else { notes.append("parameters.unhealthy_threshold must be a positive integer; using \(unhealthyThreshold)") }
        }
        if let value = rule.settings["probe_timeout_sec"] {
            if let seconds = value.numberValue, seconds > 0, seconds <= 60 { probeTimeout = seconds } else { notes.append("settings.probe_timeout_sec must be above 0 and at most 60 seconds; using \(probeTimeout)") }
        }
        probeTimeout = min(probeTimeout, max(checkInterval, 0.2))
    }
}
