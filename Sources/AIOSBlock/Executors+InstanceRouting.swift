import AIOSModel
import AIOSRuntime

/// The block executors are where the instance runtime routes: instances join their block's executor when
/// they answer `Health` and leave it when they exit.
extension Executors: InstanceRouting {
    public func prepare(_ block: BlockRecord) -> String? {
        let settings = ExecutorSettings(block: block.resolved)
        let (_, isNew) = configure(blockId: block.blockId, settings: settings)
        return isNew ? settings.note : nil
    }

    public func instanceReady(blockId: String, instanceId: String, address: String, unhealthyReason: String?) throws {
        try instanceReady(blockId: blockId, instanceId: instanceId, address: address)
        if let unhealthyReason { setUnhealthy(blockId: blockId, instanceId: instanceId, reason: unhealthyReason) }
    }
}
