import AIOSModel
import AIOSRuntime
import Foundation
import Synchronization

/// One run of an instance as a Pod: its states come from the cluster's pod watch. When it ends, the pod's last
/// log lines and why it ended are appended to the instance's log (so crash reports show them), and the pod is
/// deleted (the next run is a new pod). `stop` deletes it with the grace period and waits until it is gone.
final class PodRun: InstanceRun {
    let identity: RunIdentity
    let states: AsyncStream<InstanceState>
    private let cluster: KubernetesCluster
    private let name: String
    private let logPath: String
    private let state: RunState
    private let ended: Task<Void, Never>

    /// Where it serves and whether it still runs, shared with the task that follows it.
    final class RunState: Sendable {
        private let value = Mutex<(address: String, alive: Bool)>(("", true))
        var address: String {
            get { value.withLock { $0.address } }
            set { value.withLock { $0.address = newValue } }
        }
        var alive: Bool {
            get { value.withLock { $0.alive } }
            set { value.withLock { $0.alive = newValue } }
        }
    }

    init(cluster: KubernetesCluster, name: String, port: Int, logPath: String, known: JSONValue?, startTimeout: Double) async {
        self.cluster = cluster
        self.name = name
        self.logPath = logPath
        identity = RunIdentity(driver: KubernetesDriver.driverName, name: name)
        let (states, continuation) = AsyncStream<InstanceState>.makeStream(bufferingPolicy: .bufferingNewest(64))
        self.states = states
        let observations = await cluster.pods.subscribe(name, port: port, known: known)
        let state = RunState()
        self.state = state
        // A pod that does not run within its start timeout (an image that never pulls, a node that never takes it)
        // is deleted: the run ends as lost, and the supervisor starts another with backoff.
        let startDeadline = Task {
            try? await Task.sleep(for: .seconds(startTimeout))
            guard !Task.isCancelled, state.address.isEmpty, state.alive else { return }
            LogTail.append(logPath, "aios: pod \(name) did not run within \(Int(startTimeout)) s; deleting it")
            await Self.delete(cluster: cluster, name: name, grace: 0, logPath: logPath)
        }
        ended = Task {
            defer { startDeadline.cancel() }
            var final = false
            for await observation in observations {
                if case .running(let address) = observation.state { state.address = address }
                if observation.state.isFinal {
                    await Self.finish(cluster: cluster, name: name, logPath: logPath, note: observation.note)
                    state.alive = false
                    final = true
                }
                continuation.yield(observation.state)
                if final { break }
            }
            if !final {
                state.alive = false
                continuation.yield(.lost(reason: "the pod watch of \(name) ended"))
            }
            continuation.finish()
        }
    }

    var address: String { state.address }

    var isAlive: Bool { state.alive }

    /// Its last log lines and the reason into the instance's log; the ended pod deleted.
    private static func finish(cluster: KubernetesCluster, name: String, logPath: String, note: String?) async {
        if let tail = try? await cluster.client.text(cluster.path("pods", name) + "/log", query: ["tailLines": "50", "limitBytes": "65536"], timeout: 10),
           !tail.isEmpty {
            LogTail.append(logPath, tail.hasSuffix("\n") ? String(tail.dropLast()) : tail)
        }
        if let note { LogTail.append(logPath, "aios: pod \(name): \(note)") }
        try? await cluster.client.delete(cluster.path("pods", name), gracePeriodSeconds: 0, timeout: 10)
    }

    func terminate(grace: Double) {
        let cluster = self.cluster, name = self.name, logPath = self.logPath
        Task { await Self.delete(cluster: cluster, name: name, grace: grace, logPath: logPath) }
    }

    /// Deletes the pod; a delete the API refuses or does not answer is said in the instance's log (the run then
    /// ends when the pod does, or at `stop`'s limit).
    private static func delete(cluster: KubernetesCluster, name: String, grace: Double, logPath: String) async {
        do {
            try await cluster.client.delete(cluster.path("pods", name), gracePeriodSeconds: KubernetesQuantity.whole(grace.rounded(.up), limit: 3600), timeout: 10)
        } catch {
            LogTail.append(logPath, "aios: cannot delete pod \(name): \(error)")
        }
    }

    func stop(grace: Double) async -> Bool {
        await Self.delete(cluster: cluster, name: name, grace: grace, logPath: logPath)
        let ended = self.ended
        if await Deadline.run(seconds: grace + 5, { await ended.value; return true }) == nil {
            // Its kubelet did not finish the deletion (its node is gone or NotReady): forced, and no longer followed.
            await Self.delete(cluster: cluster, name: name, grace: 0, logPath: logPath)
            _ = await Deadline.run(seconds: 5) { await ended.value; return true }
            await cluster.pods.unsubscribe(name)
        }
        return !isAlive
    }

    /// Leaves the pod running and stops following it (the platform shuts down; the next start adopts it).
    func detach() {
        let cluster = self.cluster, name = self.name
        Task { await cluster.pods.unsubscribe(name) }
    }
}
