import AIOSModel

/// The drivers this platform has, by name: a cluster names one (`driver`), or gets `host` (cluster `local`)
/// or `simulated` (any other). Adding a driver is one entry where the platform builds this list.
public struct InstanceDrivers: Sendable {
    /// The driver of the `local` cluster when it names none.
    public static let localDefault = "host"
    /// The driver of every other cluster when it names none.
    public static let otherDefault = "simulated"

    private let byName: [String: any InstanceDriver]
    /// In registration order.
    public let names: [String]

    public init(_ drivers: [any InstanceDriver]) {
        byName = Dictionary(drivers.map { ($0.name, $0) }) { first, _ in first }
        names = drivers.map(\.name)
    }

    public subscript(name: String) -> (any InstanceDriver)? {
        byName[name]
    }

    /// The name of the driver that runs `cluster`'s instances.
    public static func name(for cluster: ClusterSpec) -> String {
        cluster.driver ?? (cluster.id == ClusterSpec.localId ? localDefault : otherDefault)
    }

    /// The driver that runs `cluster`'s instances, or why there is none.
    public func driver(for cluster: ClusterSpec) -> Result<any InstanceDriver, DriverError> {
        let name = Self.name(for: cluster)
        guard let driver = byName[name] else {
            return .failure(DriverError("cluster \(cluster.id) names the driver \"\(name)\", which this platform does not have (it has \(names.joined(separator: ", ")))"))
        }
        return .success(driver)
    }

    /// After a restart of `aios up`: every driver makes what it runs match the records; returns what was adopted.
    public func reconcile(recorded: [InstanceKey: InstanceRecord]) async -> [InstanceKey: any InstanceRun] {
        var adopted: [InstanceKey: any InstanceRun] = [:]
        for name in names {
            guard let driver = byName[name] else { continue }
            adopted.merge(await driver.reconcile(recorded: recorded)) { first, _ in first }
        }
        return adopted
    }
}
