import AIOSModel
import Foundation
import Logging

/// The platform's pods in one namespace, kept current by one list+watch (label `aios.platform=<id>`): each run
/// subscribes to its pod by name and gets what its status says as it changes. A watch that ends is resumed
/// from its resourceVersion; one that expired (410 Gone) or failed is replaced by a fresh list, after which a
/// pod that was known and is no longer listed counts as deleted (once a direct read confirms it).
public actor PodWatcher {
    private struct Subscriber {
        var port: Int
        var continuation: AsyncStream<PodStatus.Observation>.Continuation
        var last: PodStatus.Observation?
    }

    private let client: KubernetesClient
    private let selector: String
    private let logger: Logger
    private var pods: [String: JSONValue] = [:]
    private var subscribers: [String: Subscriber] = [:]
    private var loop: Task<Void, Never>?
    /// Lists so far (1 + re-lists after a 410 or a failure): what tests and logs read.
    public private(set) var lists = 0

    public init(client: KubernetesClient, selector: String, logger: Logger) {
        self.client = client
        self.selector = selector
        self.logger = logger
    }

    var podsPath: String { "/api/v1/namespaces/\(client.namespace)/pods" }

    public func start() {
        guard loop == nil else { return }
        loop = Task { await self.run() }
    }

    public func stop() {
        loop?.cancel()
        loop = nil
        for subscriber in subscribers.values { subscriber.continuation.finish() }
        subscribers.removeAll()
    }

    /// What the pod's status says, as it changes (the current state first, when the pod is known); ends after a
    /// final state or `unsubscribe`.
    public func subscribe(_ name: String, port: Int, known object: JSONValue? = nil) -> AsyncStream<PodStatus.Observation> {
        let (stream, continuation) = AsyncStream<PodStatus.Observation>.makeStream(bufferingPolicy: .bufferingNewest(64))
        subscribers[name]?.continuation.finish()
        subscribers[name] = Subscriber(port: port, continuation: continuation)
        if let object, pods[name] == nil { pods[name] = object }
        if pods[name] != nil { dispatch(name) }
        return stream
    }

    public func unsubscribe(_ name: String) {
        subscribers.removeValue(forKey: name)?.continuation.finish()
    }

    /// The pod as last seen, if it is known.
    public func pod(_ name: String) -> JSONValue? { pods[name] }

    private func run() async {
        var backoff = 0.5
        var resourceVersion: String?
        while !Task.isCancelled {
            do {
                if resourceVersion == nil {
                    resourceVersion = try await list()
                    backoff = 0.5
                }
                for try await event in client.watch(podsPath, query: ["labelSelector": selector], resourceVersion: resourceVersion ?? "") {
                    if let error = event.error { throw error }
                    if let version = event.resourceVersion { resourceVersion = version }
                    guard let name = event.object["metadata"]?["name"]?.stringValue else { continue }
                    switch event.kind {
                    case .added, .modified:
                        pods[name] = event.object
                        dispatch(name)
                    case .deleted:
                        pods[name] = nil
                        gone(name)
                    case .bookmark, .error:
                        break
                    }
                }
            } catch let error as KubernetesError where error.isGone {
                logger.info("the pod watch expired (410 Gone); listing again", metadata: ["selector": "\(selector)"])
                resourceVersion = nil
                continue
            } catch {
                if Task.isCancelled { return }
                logger.notice("the pod watch failed; listing again", metadata: ["error": "\(error)", "retryIn": "\(backoff)"])
                resourceVersion = nil
                try? await Task.sleep(for: .seconds(backoff))
                backoff = min(backoff * 2, 30)
            }
        }
    }

    /// Lists the pods; returns the list's resourceVersion. Known pods missing from the list are read directly, and
    /// count as deleted when the API says they are not there.
    private func list() async throws -> String {
        let list = try await client.list(podsPath, query: ["labelSelector": selector])
        lists += 1
        var listed: [String: JSONValue] = [:]
        for item in list.items {
            if let name = item["metadata"]?["name"]?.stringValue { listed[name] = item }
        }
        let missing = Set(pods.keys).union(subscribers.keys).subtracting(listed.keys)
        for (name, object) in listed {
            pods[name] = object
            dispatch(name)
        }
        for name in missing {
            do {
                pods[name] = try await client.get("\(podsPath)/\(name)", timeout: 10)
                dispatch(name)
            } catch let error as KubernetesError where error.isNotFound {
                pods[name] = nil
                gone(name)
            }
        }
        return list.resourceVersion
    }

    private func dispatch(_ name: String) {
        guard var subscriber = subscribers[name], let pod = pods[name] else { return }
        let observation = PodStatus.observe(pod, port: subscriber.port)
        guard observation != subscriber.last else { return }
        subscriber.last = observation
        subscriber.continuation.yield(observation)
        if observation.state.isFinal {
            subscribers[name] = nil
            subscriber.continuation.finish()
        } else {
            subscribers[name] = subscriber
        }
    }

    private func gone(_ name: String) {
        guard let subscriber = subscribers.removeValue(forKey: name) else { return }
        subscriber.continuation.yield(PodStatus.Observation(.lost(reason: "pod \(name) was deleted"), note: "pod deleted"))
        subscriber.continuation.finish()
    }
}
