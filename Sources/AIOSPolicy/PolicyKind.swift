/// What a policy decides. A block's `policies` are keyed by kind name.
public enum PolicyKind: String, Sendable, CaseIterable {
    case clusterAllocator, resourceAllocator, loadBalancer, autoscaler, stabilityChecker
    case assignment, preprocessing, postprocessing, quotaChecker
}
