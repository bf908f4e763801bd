import AIOSBlock
import AIOSModel
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

    /// One request through the graph. A refusal by the quota counts as a failed request.
    public func infer(_ packet: AIOSPacket, clientTimeout: Duration?) async throws(InferenceError) -> AIOSPacket {
        var request = packet
        if request.ts == 0 { request.ts = Date().timeIntervalSince1970 }
        do {
            try quota?.admit(session: request.sessionID)
        } catch {
            runner.stats.record(node: nil, seconds: 0, failed: true)
            throw error
        }
        return try await runner.run(request, clientTimeout: clientTimeout)
    }
}
