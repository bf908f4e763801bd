import AIOSModel
import AIOSRuntime
import Foundation
import Logging

/// One Kubernetes cluster as the platform uses it: its API client, the manifests of what it creates there, and
/// the watch of its pods. Made when the cluster is registered (or when `aios up` starts), closed when it goes.
public final class KubernetesCluster: Sendable {
    public let id: String
    public let client: KubernetesClient
    public let manifests: PodManifests
    public let pods: PodWatcher
    let logger: Logger

    public init(id: String, settings: KubernetesSettings, platformId: String, logger: Logger) throws {
        self.id = id
        var logger = logger
        logger[metadataKey: "clusterId"] = "\(id)"
        self.logger = logger
        client = try KubernetesClient(settings: settings, logger: logger)
        manifests = PodManifests(namespace: settings.namespace, platformId: platformId)
        pods = PodWatcher(client: client, selector: manifests.platformSelector, logger: logger)
    }

    public var namespace: String { client.namespace }

    public func start() async {
        await pods.start()
    }

    public func close() async {
        await pods.stop()
        await client.shutdown()
    }

    public func path(_ resource: String, _ name: String? = nil) -> String {
        let collection = switch resource {
        case "jobs": "/apis/batch/v1/namespaces/\(namespace)/jobs"
        default: "/api/v1/namespaces/\(namespace)/\(resource)"
        }
        return name.map { "\(collection)/\($0)" } ?? collection
    }

    /// Creates the object, replacing one of the same name (a ConfigMap or Secret a crashed run left).
    func createOrReplace(_ resource: String, _ object: JSONValue) async throws {
        do {
            try await client.create(path(resource), object)
        } catch let error as KubernetesError where error.isConflict {
            let name = object["metadata"]?["name"]?.stringValue ?? ""
            try await client.json(.PUT, path(resource, name), body: object, timeout: 30)
        }
    }

    /// Deletes everything of this platform that matches `labels` in the namespace: pods (with `grace`), then the
    /// ConfigMaps and Secrets. Returns what it could not delete.
    @discardableResult
    public func deleteAll(matching labels: [String: String], grace: Int) async -> [String] {
        var selectorLabels = labels
        selectorLabels[KubernetesNames.platformLabel] = manifests.platformId
        let selector = KubernetesNames.selector(selectorLabels)
        var failures: [String] = []
        for resource in ["pods", "configmaps", "secrets"] {
            do {
                // Short deadlines: a removal waits on this, and what is left is found again at the next restart.
                let list = try await client.list(path(resource), query: ["labelSelector": selector], timeout: 10)
                for item in list.items {
                    guard let name = item["metadata"]?["name"]?.stringValue else { continue }
                    do {
                        try await client.delete(path(resource, name), gracePeriodSeconds: resource == "pods" ? grace : nil, timeout: 10)
                    } catch {
                        failures.append("\(resource)/\(name): \(error)")
                    }
                }
            } catch {
                failures.append("\(resource) \(selector): \(error)")
            }
        }
        if !failures.isEmpty {
            logger.error("cannot delete what the platform created", metadata: ["selector": "\(selector)", "failures": "\(failures)"])
        }
        return failures
    }
}
