import AIOSModel
import Foundation
import Logging

/// A cluster's nodes from its API: one list, then a watch from the list's resourceVersion, resumed when the server
/// ends it and replaced by a fresh list when it expires (410 Gone) or fails. Failures back off (0.5 s doubling to
/// 30 s). Every change that matters to placement (not heartbeats) is handed on with the whole node set; whether
/// the API answers is handed on as it changes.
public actor NodeDiscovery {
    public enum Reachability: Sendable, Equatable {
        case reachable
        case unreachable(String)
    }

    private let client: KubernetesClient
    private let logger: Logger
    private let onNodes: @Sendable ([KubernetesNode]) async -> Void
    private let onReachability: @Sendable (Reachability) async -> Void
    private var nodes: [String: KubernetesNode] = [:]
    private var emitted: [KubernetesNode]?
    private var reachability: Reachability?
    private var loop: Task<Void, Never>?
    /// Lists so far (the first, and one after each 410 or failure).
    public private(set) var lists = 0
    /// Watches that ended with 410 Gone.
    public private(set) var expiredWatches = 0
    /// When set, the first watch starts from this version instead of a list (a version kept from before).
    private var resumeFrom: String?

    public init(client: KubernetesClient, resumeFrom: String? = nil, logger: Logger,
                onNodes: @escaping @Sendable ([KubernetesNode]) async -> Void, onReachability: @escaping @Sendable (Reachability) async -> Void) {
        self.client = client
        self.resumeFrom = resumeFrom
        self.logger = logger
        self.onNodes = onNodes
        self.onReachability = onReachability
    }

    public func start() {
        guard loop == nil else { return }
        loop = Task { await self.run() }
    }

    public func stop() {
        loop?.cancel()
        loop = nil
    }

    /// The nodes as last seen.
    public var current: [KubernetesNode] { nodes.values.sorted { $0.name < $1.name } }

    private func run() async {
        var backoff = 0.5
        var resourceVersion = resumeFrom
        resumeFrom = nil
        while !Task.isCancelled {
            do {
                if resourceVersion == nil {
                    resourceVersion = try await list()
                    backoff = 0.5
                }
                for try await event in client.watch("/api/v1/nodes", resourceVersion: resourceVersion ?? "") {
                    if let error = event.error { throw error }
                    if let version = event.resourceVersion { resourceVersion = version }
                    switch event.kind {
                    case .added, .modified:
                        if let node = KubernetesNode(object: event.object) { nodes[node.name] = node }
                    case .deleted:
                        if let name = event.object["metadata"]?["name"]?.stringValue { nodes[name] = nil }
                    case .bookmark, .error:
                        continue
                    }
                    await emit()
                }
            } catch let error as KubernetesError where error.isGone {
                expiredWatches += 1
                logger.info("the node watch expired (410 Gone); listing again", metadata: ["error": "\(error)"])
                resourceVersion = nil
            } catch {
                if Task.isCancelled { return }
                if resourceVersion == nil { await reach(.unreachable("\(error)")) }
                logger.notice("the node list or watch failed; trying again", metadata: ["error": "\(error)", "retryIn": "\(backoff)"])
                resourceVersion = nil
                try? await Task.sleep(for: .seconds(backoff))
                backoff = min(backoff * 2, 30)
            }
        }
    }

    private func list() async throws -> String {
        let list = try await client.list("/api/v1/nodes")
        lists += 1
        nodes = Dictionary(list.items.compactMap(KubernetesNode.init(object:)).map { ($0.name, $0) }) { first, _ in first }
        await reach(.reachable)
        await emit()
        return list.resourceVersion
    }

    private func emit() async {
        let current = self.current
        guard current != emitted else { return }
        emitted = current
        await onNodes(current)
    }

    private func reach(_ state: Reachability) async {
        guard state != reachability else { return }
        reachability = state
        await onReachability(state)
    }
}
