import AIOSKubernetes
import AIOSMetrics
import AIOSModel
import AIOSRuntime
import AIOSStore
import AsyncHTTPClient
import Foundation
import Logging
import NIOCore

/// The platform's Kubernetes clusters: for each cluster whose driver is `kubernetes`, the connection its driver
/// uses (`KubernetesClusterSet`), the discovery of its nodes into the registry, its GPU metrics from a DCGM
/// exporter when it names one, and whether its API answers (`status` in `GET /api/clusters/{id}`). A node that
/// leaves or can no longer be placed on has its instances placed elsewhere in the cluster.
public actor KubernetesClusters {
    /// Whether a cluster's API answers, as `GET /api/clusters/{id}` shows it.
    public struct Status: Sendable {
        public var state: String
        public var message: String?
        public var since: Date
        public var nodes: Int

        var json: JSONValue {
            var status: [String: JSONValue] = ["state": .string(state), "since": JSONValue.time(since), "discoveredNodes": .number(Double(nodes))]
            if let message { status["message"] = .string(message) }
            return .object(status)
        }
    }

    private struct Connection {
        var cluster: KubernetesCluster
        var settings: KubernetesSettings
        var discovery: NodeDiscovery
        var metrics: Task<Void, Never>?
    }

    public nonisolated let set: KubernetesClusterSet
    private let registry: any Registry
    private let liveMetrics: LiveMetrics
    private let secrets: BlockSecrets
    private let platformId: String
    private let metricsInterval: TimeInterval
    private let logger: Logger
    private var connections: [String: Connection] = [:]
    private var statuses: [String: Status] = [:]
    /// Each cluster's nodes at its last discovery: one that leaves has its instances moved.
    private var known: [String: Set<String>] = [:]
    /// Since when each lost node (NotReady, `NoExecute`) has been so, by cluster.
    private var lostSince: [String: [String: Date]] = [:]
    /// Places a cluster's instances on lost nodes elsewhere (the scaler's relocation), once the platform is wired.
    private var relocate: (@Sendable (_ blockId: String, _ instanceIds: [String], _ reason: String) async -> Void)?

    public init(set: KubernetesClusterSet, registry: any Registry, metrics: LiveMetrics, secrets: BlockSecrets, platformId: String,
                metricsInterval: TimeInterval, logger: Logger) {
        self.set = set
        self.registry = registry
        self.liveMetrics = metrics
        self.secrets = secrets
        self.platformId = platformId
        self.metricsInterval = metricsInterval
        self.logger = logger
    }

    public func setRelocation(_ relocate: @escaping @Sendable (_ blockId: String, _ instanceIds: [String], _ reason: String) async -> Void) {
        self.relocate = relocate
    }

    /// The status of a cluster the platform connects to, or `nil` for other clusters.
    public func status(of clusterId: String) -> JSONValue? {
        statuses[clusterId]?.json
    }

    /// Reads a cluster's `config.kubernetes` (its sealed token opened), or `nil` when it has none.
    func settings(of cluster: ClusterSpec) throws -> KubernetesSettings? {
        guard let object = cluster.document["config"]?["kubernetes"]?.objectValue else { return nil }
        let secrets = self.secrets
        return try KubernetesSettings.read(object, at: .root / "config" / "kubernetes") { try secrets.opened($0) }
    }

    /// Connects every registered Kubernetes cluster (at start, before instances are reconciled): what the API
    /// answers first is waited for, briefly, so a reachable cluster's pods can be adopted.
    public func connectAll() async {
        guard let clusters = try? await registry.clusters() else { return }
        for cluster in clusters where InstanceDrivers.name(for: cluster) == KubernetesDriver.driverName {
            do {
                _ = try await connect(cluster)
            } catch {
                statuses[cluster.id] = Status(state: "Unreachable", message: "config.kubernetes cannot be used: \(error)", since: Date(), nodes: 0)
                logger.error("cannot connect a Kubernetes cluster", metadata: ["clusterId": "\(cluster.id)", "error": "\(error)"])
            }
        }
    }

    /// Connects `cluster` (replacing an earlier connection) and starts its discovery. Returns its status after a
    /// first answer from the API, or after 10 s without one.
    @discardableResult
    public func connect(_ cluster: ClusterSpec) async throws -> Status {
        guard let settings = try settings(of: cluster) else {
            throw APIError.validation([FieldError(path: .root / "config" / "kubernetes", message: "a cluster whose driver is kubernetes needs config.kubernetes {server, token, caData, ...}")])
        }
        await disconnect(cluster.id)
        let connected = try KubernetesCluster(id: cluster.id, settings: settings, platformId: platformId, logger: logger)
        set.put(connected)
        await connected.start()
        let clusterId = cluster.id
        statuses[clusterId] = Status(state: "Connecting", message: nil, since: Date(), nodes: 0)
        let discovery = NodeDiscovery(client: connected.client, logger: logger,
                                      onNodes: { [weak self] nodes in await self?.discovered(nodes, clusterId: clusterId) },
                                      onReachability: { [weak self] state in await self?.reached(state, clusterId: clusterId) })
        var connection = Connection(cluster: connected, settings: settings, discovery: discovery)
        if let url = settings.gpuMetricsURL { connection.metrics = scrape(url, clusterId: clusterId) }
        connections[clusterId] = connection
        await discovery.start()
        let until = Date().addingTimeInterval(10)
        while statuses[clusterId]?.state == "Connecting", Date() < until { try? await Task.sleep(for: .milliseconds(100)) }
        return statuses[clusterId] ?? Status(state: "Connecting", message: nil, since: Date(), nodes: 0)
    }

    public func disconnect(_ clusterId: String) async {
        guard let connection = connections.removeValue(forKey: clusterId) else { return }
        await connection.discovery.stop()
        connection.metrics?.cancel()
        if set[clusterId] === connection.cluster { _ = set.remove(clusterId) }
        await connection.cluster.close()
    }

    public func shutdown() async {
        for id in connections.keys { await disconnect(id) }
    }

    private func reached(_ state: NodeDiscovery.Reachability, clusterId: String) async {
        let nodes = statuses[clusterId]?.nodes ?? 0
        switch state {
        case .reachable:
            let wasUnreachable = statuses[clusterId]?.state == "Unreachable"
            statuses[clusterId] = Status(state: "Reachable", message: nil, since: Date(), nodes: nodes)
            logger.info("Kubernetes cluster reachable", metadata: ["clusterId": "\(clusterId)"])
            // While it could not be reached, blocks may have been removed (and a restart could not reconcile it).
            if wasUnreachable { await removeOrphans(clusterId: clusterId) }
        case .unreachable(let why):
            statuses[clusterId] = Status(state: "Unreachable", message: why, since: Date(), nodes: nodes)
            logger.error("Kubernetes cluster unreachable", metadata: ["clusterId": "\(clusterId)", "error": "\(why)"])
        }
    }

    /// Deletes what this platform made in the cluster for instances that no longer exist (their block removed, or
    /// scaled down, while the cluster could not be reached). Objects of recorded instances are left to their runs.
    private func removeOrphans(clusterId: String) async {
        guard let cluster = set[clusterId], let blocks = try? await registry.blocks() else { return }
        var instances: Set<String> = []
        for block in blocks {
            for instance in block.placement.instances { instances.insert("\(block.blockId)/\(instance.instanceId)") }
        }
        var orphans: [[String: String]] = []
        for resource in ["pods", "configmaps", "secrets"] {
            let items: [JSONValue]
            do {
                items = try await cluster.client.list(cluster.path(resource), query: ["labelSelector": cluster.manifests.platformSelector], timeout: 10).items
            } catch {
                logger.error("cannot look for what removed instances left; it is looked for again when the cluster is back", metadata: [
                    "clusterId": "\(clusterId)", "resource": "\(resource)", "error": "\(error)",
                ])
                return
            }
            for item in items {
                guard let labels = item["metadata"]?["labels"], let block = labels[KubernetesNames.blockLabel]?.stringValue,
                      let instance = labels[KubernetesNames.instanceLabel]?.stringValue, !instances.contains("\(block)/\(instance)") else { continue }
                orphans.append([KubernetesNames.blockLabel: block, KubernetesNames.instanceLabel: instance])
            }
        }
        for labels in Set(orphans) {
            logger.notice("deleting what was left of a removed instance", metadata: ["clusterId": "\(clusterId)", "instance": "\(labels)"])
            await cluster.deleteAll(matching: labels, grace: cluster.manifests.terminationGraceSeconds)
        }
    }

    /// The cluster's discovered nodes replace those it had (nodes added with `addNode` stay). Instances on a node
    /// that left the cluster are placed elsewhere at once; on a node that is NotReady or tainted `NoExecute`, once
    /// it has been so for the cluster's `nodeLostGraceSeconds` (a kubelet restart is not a lost node). A cordoned
    /// node only takes no new work.
    private func discovered(_ nodes: [KubernetesNode], clusterId: String) async {
        let stored: Set<String>
        do {
            guard var cluster = try await registry.cluster(id: clusterId) else { return }
            stored = Set(cluster.nodes.filter { $0.document["discovered"]?.boolValue == true }.map(\.id))
            cluster.nodes.removeAll { $0.document["discovered"]?.boolValue == true }
            cluster.nodes += nodes.map(\.spec)
            try await registry.putCluster(cluster)
            for gone in stored.subtracting(nodes.map(\.name)) { await liveMetrics.forget(clusterId: clusterId, nodeId: gone) }
        } catch {
            logger.error("cannot store the cluster's discovered nodes", metadata: ["clusterId": "\(clusterId)", "error": "\(error)"])
            return
        }
        statuses[clusterId]?.nodes = nodes.count
        logger.info("Kubernetes nodes discovered", metadata: [
            "clusterId": "\(clusterId)", "nodes": "\(nodes.count)", "schedulable": "\(nodes.filter { $0.schedulingProblem == nil }.count)",
        ])
        // After a restart, the nodes as stored: one that left while the platform was down is noticed too.
        let left = (known[clusterId] ?? stored).subtracting(nodes.map(\.name))
        known[clusterId] = Set(nodes.map(\.name))
        if !left.isEmpty {
            await moveInstances(off: Dictionary(uniqueKeysWithValues: left.map { ($0, "node left the cluster") }), clusterId: clusterId)
        }
        var since = lostSince[clusterId] ?? [:]
        for node in nodes {
            guard let reason = node.lossReason else {
                since[node.name] = nil
                continue
            }
            guard since[node.name] == nil else { continue }
            since[node.name] = Date()
            let grace = connections[clusterId]?.settings.nodeLostGraceSeconds ?? 60
            logger.notice("node lost; its instances move if it does not come back", metadata: [
                "clusterId": "\(clusterId)", "node": "\(node.name)", "reason": "\(reason)", "graceSeconds": "\(grace)",
            ])
            let name = node.name
            Task { [weak self] in
                try? await Task.sleep(for: .seconds(grace))
                await self?.stillLost(name, clusterId: clusterId)
            }
        }
        lostSince[clusterId] = since
    }

    /// After its grace: a node that is still lost has its instances placed elsewhere.
    private func stillLost(_ node: String, clusterId: String) async {
        guard lostSince[clusterId]?[node] != nil, let discovery = connections[clusterId]?.discovery,
              let reason = await discovery.current.first(where: { $0.name == node })?.lossReason else { return }
        await moveInstances(off: [node: reason], clusterId: clusterId)
    }

    private func moveInstances(off nodes: [String: String], clusterId: String) async {
        guard let relocate, let blocks = try? await registry.blocks() else { return }
        for block in blocks where block.placement.clusterId == clusterId {
            let affected = block.placement.instances.filter { nodes[$0.nodeId] != nil }
            guard !affected.isEmpty else { continue }
            let reason = Set(affected.map(\.nodeId)).sorted().map { "node \($0): \(nodes[$0] ?? "")" }.joined(separator: "; ")
            logger.notice("moving instances off lost nodes", metadata: ["blockId": "\(block.blockId)", "instances": "\(affected.map(\.instanceId))", "why": "\(reason)"])
            let blockId = block.blockId, ids = affected.map(\.instanceId)
            Task { await relocate(blockId, ids, reason) }
        }
    }

    /// Polls the DCGM exporter every `metricsInterval`: each node's GPUs become its live metrics.
    private func scrape(_ url: URL, clusterId: String) -> Task<Void, Never> {
        let interval = metricsInterval, registry = self.registry, metrics = self.liveMetrics, logger = self.logger
        return Task {
            var failing = false
            while !Task.isCancelled {
                do {
                    var request = HTTPClientRequest(url: url.absoluteString)
                    request.method = .GET
                    let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
                    guard response.status == .ok else { throw KubernetesError.status(code: Int(response.status.code), reason: "", message: "GET \(url)") }
                    let body = try await response.body.collect(upTo: 32 << 20)
                    let byNode = DCGMMetrics.parse(String(buffer: body))
                    let nodes = try await registry.cluster(id: clusterId)?.nodes ?? []
                    for node in nodes {
                        guard let gpus = byNode[node.id] else { continue }
                        var sample = NodeMetrics.allocatable(of: node)
                        sample.gpus = gpus
                        await metrics.record(clusterId: clusterId, nodeId: node.id, metrics: sample)
                    }
                    if failing { logger.info("GPU metrics answer again", metadata: ["clusterId": "\(clusterId)", "url": "\(url)"]) }
                    failing = false
                } catch {
                    if !failing { logger.error("cannot read GPU metrics; nodes are placed on their allocatable capacity", metadata: ["clusterId": "\(clusterId)", "url": "\(url)", "error": "\(error)"]) }
                    failing = true
                }
                try? await Task.sleep(for: .seconds(interval))
            }
        }
    }
}
