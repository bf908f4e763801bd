import AIOSModel

/// The vDAG controller's quota checker: at most `maxRequests` requests per session in each
/// `windowSeconds` window, decided by the quota policy `policyURI` (a built-in counter when `nil`).
///
/// Written as AIOS's controller runtime reads it: `{enabled, quotaCheckerPolicyRule{policyRuleURI,
/// parameters{max_requests, window_seconds}}}`. `max_requests` may also be spelt `limit` or `quota`.
public struct VDAGQuota: Sendable, Equatable {
    /// The `window_seconds` used when none is given.
    public static let defaultWindowSeconds = 60.0
    /// The accepted spellings of `max_requests`, in order of preference.
    public static let maxRequestsKeys = ["max_requests", "limit", "quota"]

    public var policyURI: String?
    public var maxRequests: Int
    public var windowSeconds: Double

    public init(policyURI: String? = nil, maxRequests: Int, windowSeconds: Double = VDAGQuota.defaultWindowSeconds) {
        self.policyURI = policyURI
        self.maxRequests = maxRequests
        self.windowSeconds = windowSeconds
    }

    /// Reads one quota checker configuration at `path`; `nil` when it is disabled or bad (reported to `reader`).
    ///
    /// `enabled` defaults to `true`: a written quota checker is meant to run. When disabled nothing else is
    /// read, so a switched-off checker may keep a half-written rule. The rule is
    /// `quotaCheckerPolicyRule`, or the object itself when it carries `policyRuleURI`/`parameters` directly
    /// (the flat form a `controller.policies` entry uses).
    static func read(_ config: [String: JSONValue], at path: FieldPath, reader: inout FieldReader) -> VDAGQuota? {
        guard reader.bool(config, "enabled", at: path) ?? true else { return nil }

        let rule: [String: JSONValue]
        let rulePath: FieldPath
        if config["quotaCheckerPolicyRule"] != nil {
            guard let nested = reader.object(config, "quotaCheckerPolicyRule", at: path, required: true) else { return nil }
            rule = nested
            rulePath = path / "quotaCheckerPolicyRule"
        } else if config["policyRuleURI"] != nil || config["parameters"] != nil {
            rule = config
            rulePath = path
        } else {
            reader.fail(path / "quotaCheckerPolicyRule",
                        "required when the quota checker is enabled: {policyRuleURI, parameters: {max_requests, window_seconds}}")
            return nil
        }

        let before = reader.errors.count
        let uri = reader.policyURI(rule, at: rulePath)
        guard let parameters = reader.object(rule, "parameters", at: rulePath, required: true) else { return nil }
        let parametersPath = rulePath / "parameters"

        var maxRequests: Int?
        let given = maxRequestsKeys.filter { !(parameters[$0]?.isNull ?? true) }
        if let key = given.first {
            maxRequests = reader.int(parameters, key, at: parametersPath, minimum: 1)
            for other in given.dropFirst() {
                reader.fail(parametersPath / other, "\(key) is given too; give one of \(maxRequestsKeys.joined(separator: ", "))")
            }
        } else {
            reader.fail(parametersPath / "max_requests",
                        "required when the quota checker is enabled: the most requests per session in each window (also spelt limit or quota)")
        }

        var windowSeconds = defaultWindowSeconds
        if let window = reader.number(parameters, "window_seconds", at: parametersPath) {
            if window > 0 {
                windowSeconds = window
            } else {
                reader.fail(parametersPath / "window_seconds", "must be greater than 0, got \(window.formatted)")
            }
        }

        guard reader.errors.count == before, let maxRequests else { return nil }
        return VDAGQuota(policyURI: uri, maxRequests: maxRequests, windowSeconds: windowSeconds)
    }
}
