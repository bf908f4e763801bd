import AIOSModel
import AIOSPolicy
import AIOSRuntime

/// The block executors are where the instance runtime routes: instances join their block's executor when
/// they answer `Health` and leave it when they exit.
extension Executors: InstanceRouting {
    public func prepare(_ block: BlockRecord) -> String? {
        let settings = ExecutorSettings(block: block.resolved)
        let (executor, isNew) = configure(blockId: block.blockId, settings: settings)
        // A URI that is not one of the built-in balancers may be a registered custom policy: it is asked
        // first, and the built-in decides when it is not registered or cannot answer.
        if let policies, let rule = (try? PolicyRule.read(block.resolved.policies, kind: .loadBalancer, location: .root)) ?? nil,
           let uri = rule.uri, !ExecutorSettings.isBuiltIn(uri) {
            executor.setChooser(CustomLoadBalancer(policies: policies, rule: rule, blockId: block.blockId, builtIn: "round robin"))
            if isNew { Task { await policies.warm(rule, owner: block.blockId) } }
        } else {
            executor.setChooser(nil)
        }
        return isNew ? settings.note : nil
    }

    public func instanceReady(blockId: String, instanceId: String, address: String, unhealthyReason: String?) throws {
        try instanceReady(blockId: blockId, instanceId: instanceId, address: address)
        if let unhealthyReason { setUnhealthy(blockId: blockId, instanceId: instanceId, reason: unhealthyReason) }
    }
}
