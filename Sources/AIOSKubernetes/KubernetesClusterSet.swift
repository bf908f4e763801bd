import Synchronization

/// The Kubernetes clusters the platform is connected to, by cluster id: the driver finds a launch's cluster
/// here; the platform adds a cluster when it is registered (or at start) and removes it when it goes.
public final class KubernetesClusterSet: Sendable {
    private let clusters = Mutex<[String: KubernetesCluster]>([:])

    public init() {}

    public subscript(id: String) -> KubernetesCluster? {
        clusters.withLock { $0[id] }
    }

    /// Adds (or replaces) a cluster; returns the one it replaced, to be closed.
    @discardableResult
    public func put(_ cluster: KubernetesCluster) -> KubernetesCluster? {
        clusters.withLock { $0.updateValue(cluster, forKey: cluster.id) }
    }

    public func remove(_ id: String) -> KubernetesCluster? {
        clusters.withLock { $0.removeValue(forKey: id) }
    }

    public var all: [KubernetesCluster] {
        clusters.withLock { $0.values.sorted { $0.id < $1.id } }
    }
}
