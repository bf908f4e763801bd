/// How custom policy workers are contained (`aios up --policy-sandbox`).
public enum PolicySandboxMode: String, Sendable, CaseIterable {
    /// bubblewrap: no network, read-only root, private `/tmp`, no data dir, plus rlimits. The default.
    case bwrap
    /// rlimits and a clean environment only, for hosts where bubblewrap cannot run; the operator's choice.
    case rlimitsOnly = "rlimits-only"

    /// The `--mode` of `python -m aios_policy.launch`.
    var launchMode: String { self == .bwrap ? "bwrap" : "rlimits_only" }
}

/// Per-worker resource limits. `cpuSeconds` is a lifetime budget of the long-lived worker; the per-call
/// deadline is the caller's.
public struct PolicyLimits: Sendable, Equatable {
    public var cpuSeconds = 600
    public var addressSpace = 2 * 1024 * 1024 * 1024
    public var processes = 64
    public var openFiles = 256
    public var fileSize = 64 * 1024 * 1024

    public init() {}

    var launchArguments: [String] {
        ["--cpu", "\(cpuSeconds)", "--as", "\(addressSpace)", "--nproc", "\(processes)", "--nofile", "\(openFiles)", "--fsize", "\(fileSize)"]
    }
}

/// Per-call deadlines: 50 ms for a load balancer (it is on every request's path), 2 s elsewhere; starting a
/// worker (sandbox, import, constructor) gets its own.
public struct PolicyDeadlines: Sendable, Equatable {
    public var loadBalancer: Duration = .milliseconds(50)
    public var other: Duration = .seconds(2)
    public var start: Duration = .seconds(15)

    public init() {}

    public func call(_ kind: PolicyKind) -> Duration {
        kind == .loadBalancer ? loadBalancer : other
    }
}
