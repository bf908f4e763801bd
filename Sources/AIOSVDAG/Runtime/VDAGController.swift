import AIOSBlock
import AIOSModel
import AIOSPolicy
import AIOSWire
import Foundation

/// A running vDAG controller: one vDAG's runner behind its quota checker, with its stats. Its gRPC server
/// (`vDAGInferenceService`) and REST route call `infer`.
public final class VDAGController: Sendable {
    public let id: String
    public let runner: VDAGRunner
    public let quota: VDAGQuotaChecker?

    public init(id: String, runner: VDAGRunner) {
        self.id = id
        self.runner = runner
        self.quota = runner.plan.quota.map { VDAGQuotaChecker(quota: $0) }
    }

    public var vdagURI: String { runner.plan.uri }

    /// Whether a registered custom quota checker decided (`{quota_table, input, quota, session_id}` in,
    /// `{allowed}` out); throws its refusal. `false` when there is none or it failed: the built-in decides.
    private func customQuotaDecided(_ request: AIOSPacket, quota checker: VDAGQuotaChecker) async throws(InferenceError) -> Bool {
        guard let policies = runner.policies, let uri = checker.quota.policyURI else { return false }
        let rule = PolicyRule(kind: .quotaChecker, uri: uri, parameters: [:], settings: [:], location: .root)
        let session = request.sessionID
        let input: JSONValue = [
            "quota_table": [session: .number(Double(checker.recent(session: session)))],
            "input": RequestView(packet: request).json,
            "quota": ["max_requests": .number(Double(checker.quota.maxRequests)), "window_seconds": .number(checker.quota.windowSeconds)],
            "session_id": .string(session),
        ]
        let owner = "vdag:\(vdagURI)"
        let failure: PolicyFailure
        switch await policies.evaluate(rule, owner: owner, input: input) {
        case .builtIn:
            return false
        case .decided(let result):
            switch PolicyOutputs.allowed(result) {
            case .success(true):
                return true
            case .success(false):
                throw InferenceError(.resourceExhausted, "quota policy \(uri) refused session \"\(session)\"")
            case .failure(let bad):
                failure = bad
            }
        case .failed(let failed):
            failure = failed
        }
        await policies.reportFallback(rule, owner: owner, failure, builtIn: "the built-in quota counter")
        return false
    }

    /// One request through the graph. A refusal by the quota counts as a failed request.
    public func infer(_ packet: AIOSPacket, clientTimeout: Duration?) async throws(InferenceError) -> AIOSPacket {
        var request = packet
        if request.ts == 0 { request.ts = Date().timeIntervalSince1970 }
        do {
            if let quota, try await !customQuotaDecided(request, quota: quota) {
                try quota.admit(session: request.sessionID)
            }
        } catch {
            runner.stats.record(node: nil, seconds: 0, failed: true)
            throw error
        }
        return try await runner.run(request, clientTimeout: clientTimeout)
    }
}
