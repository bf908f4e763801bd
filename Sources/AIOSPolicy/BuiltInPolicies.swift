/// The policies the platform implements itself. Every kind has a default; the URIs the seed examples use
/// (`policy.clusterAllocator.gpu-cluster-selector:v0.0.1`, `policy.resourceAllocator.multi-gpu-llm:v0.1.0`, ...)
/// resolve to the default of their kind, and the block's events say so.
public enum BuiltInPolicies {
    public struct Resolution: Sendable, Equatable {
        /// The built-in that serves the rule.
        public var builtIn: String
        /// Set when the rule named something else, for the block's events.
        public var note: String?
    }

    public static func uri(of kind: PolicyKind) -> String {
        switch kind {
        case .clusterAllocator: "policy.clusterAllocator.filter-and-rank:v1"
        case .resourceAllocator: "policy.resourceAllocator.gpu-fit:v1"
        case .loadBalancer: "policy.loadBalancer.roundrobin:v1"
        case .autoscaler: "policy.autoscaler.cpu-usage-autoscaler:v1"
        case .stabilityChecker: "policy.stabilityChecker.health-threshold:v1"
        case .assignment: "policy.assignment.first-match:v1"
        case .preprocessing: "policy.preprocessing.identity:v1"
        case .postprocessing: "policy.postprocessing.identity:v1"
        case .quotaChecker: "policy.quotaChecker.allow-all:v1"
        }
    }

    public static func resolve(_ rule: PolicyRule?, kind: PolicyKind) -> Resolution {
        let builtIn = uri(of: kind)
        guard let requested = rule?.uri, requested != builtIn else {
            return Resolution(builtIn: builtIn, note: rule?.uri == nil ? "no \(kind.rawValue) policy given; using built-in \(builtIn)" : nil)
        }
        return Resolution(builtIn: builtIn, note: "\(requested) is not registered; \(kind.rawValue) served by built-in \(builtIn)")
    }
}
