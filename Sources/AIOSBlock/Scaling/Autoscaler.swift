import Foundation

/// The autoscaling decision, pure: from the block's current size, its bounds, the signals of its instances
/// and when it last scaled, the size it should have and why.
public enum Autoscaler {
    /// What one instance is doing, as sampled now.
    public struct InstanceSignal: Sendable {
        public var instanceId: String
        /// CPU use of its processes as a fraction of the CPUs it was allocated (1.0 = all of them busy).
        public var cpu: Double?
        /// Mean utilisation (0–1) of its GPUs; `nil` when it has none or they are not measured.
        public var gpu: Double?
        /// Requests in flight on it plus requests queued for it.
        public var load: Int

        public init(instanceId: String, cpu: Double?, gpu: Double?, load: Int) {
            self.instanceId = instanceId
            self.cpu = cpu
            self.gpu = gpu
            self.load = load
        }
    }

    public struct Decision: Sendable, Equatable {
        public var desired: Int
        /// The signal and its value, for the block's events.
        public var reason: String
        /// Set when the policy's signal was unavailable and another was used.
        public var fallback: String?
    }

    /// `nil` when there is nothing to measure yet (no instance reported a signal).
    public static func decide(current: Int, minInstances: Int, maxInstances: Int, settings: AutoscalerSettings,
                              signals: [InstanceSignal], sinceScaleUp: Double, sinceScaleDown: Double) -> Decision? {
        // Bounds first: whatever a policy says, min ≤ count ≤ max.
        if current < minInstances {
            return Decision(desired: minInstances, reason: "below minInstances (\(current) < \(minInstances))")
        }
        if current > maxInstances {
            return Decision(desired: maxInstances, reason: "above maxInstances (\(current) > \(maxInstances))")
        }
        var fallback: String?
        let name: String
        let value: Double
        switch settings.signal {
        case .gpu where signals.contains { $0.gpu != nil }:
            name = "GPU utilisation"
            value = mean(signals.compactMap(\.gpu))
        case .gpu, .cpu:
            if settings.signal == .gpu { fallback = "no GPU utilisation for this block's instances (no GPUs measured); scaling on CPU" }
            let cpus = signals.compactMap(\.cpu)
            guard !cpus.isEmpty else { return nil }
            name = "CPU utilisation"
            value = mean(cpus)
        case .concurrency:
            guard !signals.isEmpty else { return nil }
            name = "requests in flight per instance"
            value = Double(signals.map(\.load).reduce(0, +)) / Double(max(current, 1))
        }
        let ratio = value / settings.target
        let measured = String(format: "%@ %.2f against target %.2f over %d instance(s)", name, value, settings.target, current)
        var desired = current
        if ratio.isFinite, abs(ratio - 1) > settings.tolerance {
            // Clamped before the conversion, so no signal can overflow it.
            desired = Int(min((Double(current) * ratio).rounded(.up), Double(maxInstances)))
        }
        desired = min(max(desired, minInstances), maxInstances)
        if desired > current && sinceScaleUp < settings.scaleUpCooldown {
            return Decision(desired: current, reason: measured + String(format: "; scale-up waits for its cooldown (%.0f of %.0f s)", sinceScaleUp, settings.scaleUpCooldown), fallback: fallback)
        }
        // Scaling down waits for its cooldown after any change, so a burst does not flap the block.
        if desired < current && min(sinceScaleDown, sinceScaleUp) < settings.scaleDownCooldown {
            return Decision(desired: current, reason: measured + String(format: "; scale-down waits for its cooldown (%.0f of %.0f s)", min(sinceScaleDown, sinceScaleUp), settings.scaleDownCooldown), fallback: fallback)
        }
        return Decision(desired: desired, reason: measured, fallback: fallback)
    }

    static func mean(_ values: [Double]) -> Double {
        values.isEmpty ? 0 : values.reduce(0, +) / Double(values.count)
    }
}
