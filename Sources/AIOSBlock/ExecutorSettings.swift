import AIOSModel
import AIOSPolicy

/// How a block's executor routes requests, read from the block as it runs (`ResolvedBlock`):
/// the `loadBalancer` policy and its `parameters`/`settings`, and `initSettings.timeout_ms`.
public struct ExecutorSettings: Sendable, Equatable {
    public enum Balancing: Sendable, Equatable {
        case roundRobin(cacheSessions: Bool, sessionCacheSize: Int)
        case sessionAware
        case leastInFlight

        /// Whether a session's requests are bound to one instance.
        var isSessionAffine: Bool {
            switch self {
            case .roundRobin(let cacheSessions, _): cacheSessions
            case .sessionAware: true
            case .leastInFlight: false
            }
        }
    }

    public var balancing: Balancing
    /// The policy URI that chose `balancing`, and a note when it is not the one the block named.
    public var policyURI: String
    public var note: String?
    /// Deadline of a request whose client sets none (or a longer one).
    public var defaultTimeout: Duration
    /// Requests one instance works on at once; more wait in the block's queue.
    public var maxInFlightPerInstance: Int
    /// Requests waiting for an instance; beyond this the gateway answers `RESOURCE_EXHAUSTED`.
    public var maxQueued: Int

    public static let defaultTimeout: Duration = .seconds(30)

    public init(balancing: Balancing = .roundRobin(cacheSessions: false, sessionCacheSize: 1000), policyURI: String = BuiltInPolicies.uri(of: .loadBalancer),
                note: String? = nil, defaultTimeout: Duration = Self.defaultTimeout, maxInFlightPerInstance: Int = 128, maxQueued: Int = 1024) {
        self.balancing = balancing
        self.policyURI = policyURI
        self.note = note
        self.defaultTimeout = defaultTimeout
        self.maxInFlightPerInstance = maxInFlightPerInstance
        self.maxQueued = maxQueued
    }

    /// Reads the block's settings. The block was validated when it was created, so a value of the wrong
    /// type falls back to its default (and the note says so) rather than failing a running block.
    /// `BlockPolicySettings(validating:)` refuses such values instead.
    public init(block: ResolvedBlock) {
        var reader = PolicyValueReader()
        self.init(block: block, rule: (try? PolicyRule.read(block.policies, kind: .loadBalancer, location: .root)) ?? nil, reader: &reader)
        note = reader.notes.isEmpty ? nil : reader.notes.joined(separator: "; ")
    }

    /// Reads `rule` (the block's `loadBalancer` policy) and `initSettings.timeout_ms`; what is wrong with the
    /// rule's values goes to `reader`.
    init(block: ResolvedBlock, rule: PolicyRule?, reader: inout PolicyValueReader) {
        self.init()
        let parameters = rule?.parameters ?? [:]
        let settings = rule?.settings ?? [:]
        let uri = rule?.uri ?? ""
        let name = Self.policyName(uri)
        switch name {
        case _ where Self.roundRobinNames.contains(name):
            balancing = .roundRobin(cacheSessions: parameters["cache_sessions"]?.boolValue ?? false,
                                    sessionCacheSize: reader.positiveInteger(settings, "settings", "session_cache_size", default: 1000))
            policyURI = uri
        case _ where Self.sessionAwareNames.contains(name):
            balancing = .sessionAware
            policyURI = uri
        case _ where Self.leastInFlightNames.contains(name):
            balancing = .leastInFlight
            policyURI = uri
        default:
            let cacheSessions = parameters["cache_sessions"]?.boolValue ?? false
            balancing = .roundRobin(cacheSessions: cacheSessions, sessionCacheSize: reader.positiveInteger(settings, "settings", "session_cache_size", default: 1000))
            reader.remarks.append(uri.isEmpty
                ? "no loadBalancer policy given; using built-in round robin"
                : "\(uri) is not a built-in load balancer: a registered custom policy of that URI picks instances, else round robin does (built-ins: roundrobin, session-aware-llm, least-inflight)")
        }
        if let value = parameters["cache_sessions"], value.boolValue == nil, case .roundRobin = balancing {
            reader.problems.append(PolicyProblem(field: FieldPath(dotted: "parameters") / "cache_sessions",
                                                 message: "must be true or false, got \(value.jsonString())", fallback: "false"))
        }
        maxInFlightPerInstance = reader.positiveInteger(settings, "settings", "max_inflight_per_instance", default: maxInFlightPerInstance)
        maxQueued = reader.positiveInteger(settings, "settings", "max_queued_requests", default: maxQueued)
        if let timeout = block.initSettings["timeout_ms"] {
            // Bounded (a day), so no stored value can overflow a Duration. `createBlock` checks it with the
            // block's initSettings (`PlatformInitSettings`); a running block notes it.
            if let milliseconds = timeout.numberValue, milliseconds > 0, milliseconds <= 86_400_000 {
                defaultTimeout = .milliseconds(Int64(milliseconds))
            } else {
                reader.remarks.append("initSettings.timeout_ms must be a number of milliseconds in 1...86400000; using 30000")
            }
        }
    }

    /// The names (`policy.loadBalancer.<name>:<version>`) of the built-in balancers.
    static let roundRobinNames: Set = ["roundrobin", "round-robin"]
    static let sessionAwareNames: Set = ["session-aware-llm", "session-aware", "consistent-hash"]
    static let leastInFlightNames: Set = ["least-inflight", "least-loaded", "least-connections"]

    /// Whether `uri` names one of the built-in balancers (any other may be a registered custom policy).
    public static func isBuiltIn(_ uri: String) -> Bool {
        let name = policyName(uri)
        return roundRobinNames.contains(name) || sessionAwareNames.contains(name) || leastInFlightNames.contains(name)
    }

    /// `policy.loadBalancer.roundrobin:v0.0.1` → `roundrobin`.
    static func policyName(_ uri: String) -> String {
        let withoutVersion = uri.split(separator: ":", maxSplits: 1).first.map(String.init) ?? uri
        return withoutVersion.split(separator: ".").last.map { $0.lowercased() } ?? ""
    }

    func makeBalancer() -> any LoadBalancer {
        switch balancing {
        case .roundRobin(let cacheSessions, let size): RoundRobinBalancer(cacheSessions: cacheSessions, sessionCacheSize: size)
        case .sessionAware: ConsistentHashBalancer()
        case .leastInFlight: LeastInFlightBalancer()
        }
    }
}
