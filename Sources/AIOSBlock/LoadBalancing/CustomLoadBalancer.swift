import AIOSModel
import AIOSPolicy

/// A block's custom `loadBalancer` policy, asked per request with AIOS's input
/// `{mode: "load_balance", packet, instances}`; an answer that is late, wrong or names an instance that is not
/// ready leaves the choice to the built-in balancer, and the block's events say so (throttled).
public struct CustomLoadBalancer: InstanceChooser {
    public let policies: CustomPolicies
    public let rule: PolicyRule
    public let blockId: String
    public let builtIn: String

    public init(policies: CustomPolicies, rule: PolicyRule, blockId: String, builtIn: String) {
        self.policies = policies
        self.rule = rule
        self.blockId = blockId
        self.builtIn = builtIn
    }

    public func choose(_ request: RequestView, among instances: [String]) async -> String? {
        let input: JSONValue = ["mode": "load_balance", "packet": request.json, "instances": .array(instances.map(JSONValue.string))]
        let failure: PolicyFailure
        switch await policies.evaluate(rule, owner: blockId, input: input) {
        case .builtIn:
            return nil
        case .decided(let result):
            switch PolicyOutputs.instance(result, offered: instances) {
            case .success(let id):
                await policies.report(owner: blockId, kind: .loadBalancer, type: .policyDecided,
                                      "loadBalancer policy \(rule.uri ?? "-") chose \(id) among \(instances.count) ready instance(s)")
                return id
            case .failure(let bad):
                failure = bad
            }
        case .failed(let failed):
            failure = failed
        }
        await policies.reportFallback(rule, owner: blockId, failure, builtIn: builtIn)
        return nil
    }
}
