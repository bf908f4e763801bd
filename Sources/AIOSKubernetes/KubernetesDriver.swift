import AIOSModel
import AIOSRuntime
import Foundation
import Logging

/// Runs instances as Pods of a Kubernetes cluster (a cluster whose `driver` is `kubernetes`): one pod per run,
/// bound to the node the placer chose, its GPUs requested as `nvidia.com/gpu` (the device plugin picks which),
/// its block file a ConfigMap (or Secret), its image pulled by the node with a pull Secret the platform makes
/// from the component's registry. Pods outlive `aios up`: a restart adopts those of recorded instances and
/// deletes the rest. Init programs run as Jobs.
public struct KubernetesDriver: InstanceDriver {
    public static let driverName = "kubernetes"
    public let name = driverName
    public let clusters: KubernetesClusterSet
    let registries: ContainerRegistries?
    /// Seconds a pod may take to run (scheduled, its image pulled, its container started) before the run counts
    /// as failed and is started again (a large model image can take minutes to pull).
    public var startTimeout: Double = 900
    let logger: Logger

    public init(clusters: KubernetesClusterSet, registries: ContainerRegistries?, logger: Logger) {
        self.clusters = clusters
        self.registries = registries
        self.logger = logger
    }

    public var pullsImagesHere: Bool { false }

    public var keepsRunsAcrossRestarts: Bool { true }

    public func refusal(for workload: InstanceWorkload.Kind) -> String? {
        workload == .image ? nil
            : "a Kubernetes cluster runs OCI images, not commands on the platform's host: give the component containerRegistryInfo.containerImage"
    }

    private func cluster(_ id: String?) throws -> KubernetesCluster {
        guard let id, let cluster = clusters[id] else {
            throw DriverError("cluster \(id ?? "-") is not connected to its Kubernetes API (see its status in GET /api/clusters/\(id ?? ""))")
        }
        return cluster
    }

    public func start(_ launch: InstanceLaunch) async throws -> any InstanceRun {
        guard case .image(let image) = launch.workload else { throw DriverError(refusal(for: launch.workload.kind) ?? "") }
        let cluster = try cluster(launch.clusterId)
        var reference = image, pullSecret: String?
        if let registryId = launch.imageRegistryId, let registries {
            let access = try await registries.credentials(for: OCIImageSpec(image: image, registryId: registryId))
            reference = access.reference
            if let host = access.host, let username = access.username, let password = access.password {
                try await cluster.createOrReplace("secrets", cluster.manifests.pullSecret(launch.key, host: host, username: username, password: password))
                pullSecret = KubernetesNames.pullSecret(blockId: launch.blockId, instanceId: launch.instanceId)
            }
        }
        let contents: String
        do {
            contents = try String(contentsOfFile: launch.blockFile, encoding: .utf8)
        } catch {
            throw DriverError("cannot read the block file \(launch.blockFile): \(error)")
        }
        try await cluster.createOrReplace(launch.blockFileHoldsSecrets ? "secrets" : "configmaps",
                                          cluster.manifests.blockFile(launch.key, contents: contents, holdsSecrets: launch.blockFileHoldsSecrets))
        // One run at a time per instance: a pod of it that is still there (a create whose answer was lost, a pod an
        // earlier platform left while the API was unreachable) goes first, so it cannot hold the node's GPUs.
        let instanceSelector = KubernetesNames.selector(cluster.manifests.labels(launch.key))
        for leftover in (try? await cluster.client.list(cluster.path("pods"), query: ["labelSelector": instanceSelector], timeout: 10).items) ?? [] {
            guard let name = leftover["metadata"]?["name"]?.stringValue else { continue }
            try? await cluster.client.delete(cluster.path("pods", name), gracePeriodSeconds: cluster.manifests.terminationGraceSeconds, timeout: 10)
            LogTail.append(launch.logPath, "aios: deleted pod \(name), left by an earlier run of this instance")
        }
        let port = try FreePort.find()
        var pod = cluster.manifests.pod(launch, image: reference, port: port, blockFileHoldsSecrets: launch.blockFileHoldsSecrets, pullSecret: pullSecret)
        // Each run is a pod of its own (an ended one is deleted while the next starts).
        let podName = KubernetesNames.label(KubernetesNames.pod(blockId: launch.blockId, instanceId: launch.instanceId) + "-" + RandomID.make(prefix: "", length: 5))
        pod = pod.setting("metadata.name", to: .string(podName))
        let created: JSONValue
        do {
            created = try await cluster.client.create(cluster.path("pods"), pod)
        } catch let error as KubernetesError where error.isConflict {
            // The name is this run's own: an earlier attempt of this create was made after all.
            created = (try? await cluster.client.get(cluster.path("pods", podName), timeout: 10)) ?? pod
        } catch {
            throw DriverError("cannot create pod \(podName) on node \(launch.nodeId): \(error)")
        }
        LogTail.append(launch.logPath, "aios: pod \(podName) created in namespace \(cluster.namespace) on node \(launch.nodeId), image \(reference)")
        logger.info("pod created", metadata: ["clusterId": "\(cluster.id)", "pod": "\(podName)", "node": "\(launch.nodeId)"])
        return await PodRun(cluster: cluster, name: podName, port: port, logPath: launch.logPath, known: created, startTimeout: startTimeout)
    }

    /// Pods of recorded instances (this driver's, the recorded pod, not ended) are adopted; every other pod, ConfigMap
    /// and Secret this platform made in the cluster is deleted.
    public func reconcile(recorded: [InstanceKey: InstanceRecord]) async -> [InstanceKey: any InstanceRun] {
        var adopted: [InstanceKey: any InstanceRun] = [:]
        for cluster in clusters.all {
            let selector = cluster.manifests.platformSelector
            for resource in ["pods", "configmaps", "secrets"] {
                let items: [JSONValue]
                do {
                    items = try await cluster.client.list(cluster.path(resource), query: ["labelSelector": selector]).items
                } catch {
                    logger.error("cannot reconcile the cluster's \(resource); they are left as they are", metadata: ["clusterId": "\(cluster.id)", "error": "\(error)"])
                    continue
                }
                for item in items {
                    let labels = item["metadata"]?["labels"]
                    guard let name = item["metadata"]?["name"]?.stringValue else { continue }
                    let key = labels.flatMap { labels -> InstanceKey? in
                        guard let block = labels[KubernetesNames.blockLabel]?.stringValue, let instance = labels[KubernetesNames.instanceLabel]?.stringValue else { return nil }
                        return InstanceKey(blockId: block, instanceId: instance)
                    }
                    // Jobs' pods are the jobs' to clean up.
                    if labels?["job-name"] != nil || labels?[KubernetesNames.jobLabel] != nil { continue }
                    let record = key.flatMap { recorded[$0] }
                    if resource == "pods", let key, let record, record.driver == Self.driverName || record.driver == nil, record.runtimeName == name, adopted[key] == nil,
                       let port = item["metadata"]?["annotations"]?["aios.port"]?.stringValue.flatMap(Int.init),
                       !PodStatus.observe(item, port: port).state.isFinal {
                        adopted[key] = await PodRun(cluster: cluster, name: name, port: port, logPath: record.logPath, known: item, startTimeout: startTimeout)
                        logger.notice("adopted a pod an earlier run left", metadata: ["clusterId": "\(cluster.id)", "pod": "\(name)", "instance": "\(key)"])
                        continue
                    }
                    if resource != "pods", record != nil { continue }
                    do {
                        try await cluster.client.delete(cluster.path(resource, name), gracePeriodSeconds: resource == "pods" ? cluster.manifests.terminationGraceSeconds : nil)
                        logger.notice("deleted what an earlier run left", metadata: ["clusterId": "\(cluster.id)", "object": "\(resource)/\(name)"])
                    } catch {
                        logger.error("cannot delete what an earlier run left", metadata: ["clusterId": "\(cluster.id)", "object": "\(resource)/\(name)", "error": "\(error)"])
                    }
                }
            }
        }
        return adopted
    }

    /// The pod's log through the API while the pod exists (the last `tailLines`, or what follows `offset`); else
    /// the instance's log file, which keeps each ended pod's last lines.
    public func log(of instance: InstanceRecord, offset: Int?, tailLines: Int) async -> LogChunk {
        guard let podName = instance.runtimeName else { return InstanceLogs.read(instance.logPath, offset: offset, tailLines: tailLines) }
        for cluster in clusters.all where await cluster.pods.pod(podName) != nil {
            var query = ["limitBytes": String(8 << 20)]
            if offset == nil { query["tailLines"] = String(max(1, tailLines)) }
            guard let text = try? await cluster.client.text(cluster.path("pods", podName) + "/log", query: query, timeout: 15) else { break }
            let bytes = Array(text.utf8)
            guard let offset else { return LogChunk(text: text, nextOffset: bytes.count) }
            let start = min(max(0, offset), bytes.count)
            return LogChunk(text: String(decoding: bytes[start...], as: UTF8.self), nextOffset: bytes.count)
        }
        return InstanceLogs.read(instance.logPath, offset: offset, tailLines: tailLines)
    }

    public func release(blockId: String, instanceId: String?, clusterId: String?) async {
        var labels = [KubernetesNames.blockLabel: blockId]
        if let instanceId { labels[KubernetesNames.instanceLabel] = instanceId }
        for cluster in clusters.all where clusterId == nil || cluster.id == clusterId {
            await cluster.deleteAll(matching: labels, grace: cluster.manifests.terminationGraceSeconds)
        }
    }

    public func runJob(_ job: JobLaunch, onLine: @escaping @Sendable (Substring) async -> Void) async -> ProgramEnding {
        guard case .image(let image) = job.workload else {
            return .notStarted("a Kubernetes cluster runs init programs as Jobs of an OCI image: give initContainer.image")
        }
        let cluster: KubernetesCluster
        do {
            cluster = try self.cluster(job.clusterId)
        } catch {
            return .notStarted("\(error)")
        }
        return await KubernetesJob(cluster: cluster, job: job, image: image, logger: logger).run(onLine: onLine)
    }
}

extension JSONValue {
    /// The value with the member at a dotted path (of objects) set.
    func setting(_ path: String, to value: JSONValue) -> JSONValue {
        let keys = path.split(separator: ".").map(String.init)
        func set(_ current: JSONValue, _ keys: ArraySlice<String>) -> JSONValue {
            guard let key = keys.first else { return value }
            var object = current.objectValue ?? [:]
            object[key] = set(object[key] ?? .null, keys.dropFirst())
            return .object(object)
        }
        return set(self, keys[...])
    }
}
