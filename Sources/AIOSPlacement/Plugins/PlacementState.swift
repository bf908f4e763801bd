/// What a placement decision knows beyond the node a plugin is looking at: which cluster and block, which
/// instance of how many, and the metrics TTL.
public struct PlacementState: Sendable {
    public let clusterId: String
    public let blockId: String
    /// The instance being placed, from 0.
    public let instance: Int
    /// Instances this decision places.
    public let instances: Int
    /// Metrics older than this many seconds are stale.
    public let ttl: Double

    public init(clusterId: String, blockId: String, instance: Int = 0, instances: Int = 1, ttl: Double) {
        self.clusterId = clusterId
        self.blockId = blockId
        self.instance = instance
        self.instances = instances
        self.ttl = ttl
    }
}
