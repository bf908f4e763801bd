import AIOSKubernetes
import AIOSModel
import Foundation
import Logging
import Synchronization

/// Plays the node's part where a test API server has no kubelet (like KWOK): it creates Node objects with GPU
/// capacity and makes them Ready, and for every pod bound to one of its nodes in its namespace it starts the
/// instance as a local process (the image names which: `images`), with the pod's environment and its block
/// file from the pod's ConfigMap or Secret, then marks the pod Running with pod IP 127.0.0.1. A pod being
/// deleted has its process killed and is removed with `gracePeriodSeconds: 0`, as a kubelet finishes a
/// deletion. An image it does not know stays `ImagePullBackOff`. This is a fake only of what cannot run here
/// (a kubelet and container runtime); the API server is real.
final class FakeKubelet: Sendable {
    let client: KubernetesClient
    let namespace: String
    /// Image → the local command that plays it.
    let images: [String: [String]]
    private let state = Mutex<State>(State())
    private let loop = Mutex<Task<Void, Never>?>(nil)
    let scratch: URL

    private struct State {
        var processes: [String: Process] = [:]
        var nodes: Set<String> = []
    }

    init(kubeconfig: String, namespace: String, images: [String: [String]], scratch: URL) throws {
        var settings = try KubeConfig.load(path: kubeconfig).settings(context: nil)
        settings.namespace = namespace
        client = try KubernetesClient(settings: settings, logger: Logger(label: "fake-kubelet"))
        self.namespace = namespace
        self.images = images
        self.scratch = scratch
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    }

    /// Creates the namespace and its `default` ServiceAccount (no controller-manager makes it), and starts serving pods.
    func start() async throws {
        try await ignoringConflict { try await self.client.create("/api/v1/namespaces", ["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": .string(self.namespace)]]) }
        try await ignoringConflict {
            try await self.client.create("/api/v1/namespaces/\(self.namespace)/serviceaccounts",
                                         ["apiVersion": "v1", "kind": "ServiceAccount", "metadata": ["name": "default", "namespace": .string(self.namespace)]])
        }
        let task = Task { [weak self] in
            while !Task.isCancelled {
                await self?.tick()
                try? await Task.sleep(for: .milliseconds(200))
            }
        }
        loop.withLock { $0 = task }
    }

    /// Kills its processes, deletes its nodes and the namespace.
    func stop() async {
        loop.withLock { $0?.cancel() }
        let (processes, nodes) = state.withLock { ($0.processes, $0.nodes) }
        for process in processes.values where process.isRunning { process.terminate() }
        for node in nodes { try? await client.delete("/api/v1/nodes/\(node)", gracePeriodSeconds: 0) }
        // Pods first (nothing else would finish their deletion), then the namespace.
        if let pods = try? await client.get("/api/v1/namespaces/\(namespace)/pods") {
            for pod in pods["items"]?.arrayValue ?? [] {
                if let name = pod["metadata"]?["name"]?.stringValue { try? await client.delete("/api/v1/namespaces/\(namespace)/pods/\(name)", gracePeriodSeconds: 0) }
            }
        }
        try? await client.delete("/api/v1/namespaces/\(namespace)")
        await client.shutdown()
    }

    // MARK: Nodes

    /// A Ready node with `gpus` GPUs of `product` (`memoryMB` each) and `labels`.
    func addNode(_ name: String, gpus: Int, product: String = "NVIDIA-A100-SXM4-40GB", memoryMB: Int = 40960, labels: [String: String] = [:]) async throws {
        var allLabels = labels
        allLabels["nvidia.com/gpu.product"] = product
        allLabels["nvidia.com/gpu.memory"] = String(memoryMB)
        allLabels["kubernetes.io/hostname"] = name
        let node: JSONValue = [
            "apiVersion": "v1", "kind": "Node",
            "metadata": ["name": .string(name), "labels": .object(allLabels.mapValues(JSONValue.string))],
            // What a new node has until its kubelet reports Ready; the node lifecycle controller would remove it.
            "spec": ["taints": [["key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"]]],
        ]
        try await client.create("/api/v1/nodes", node)
        state.withLock { _ = $0.nodes.insert(name) }
        try await client.patch("/api/v1/nodes/\(name)", ["spec": ["taints": .null]])
        try await setReady(name, true, gpus: gpus)
    }

    func setReady(_ name: String, _ ready: Bool, gpus: Int? = nil) async throws {
        var status: [String: JSONValue] = [
            "conditions": [[
                "type": "Ready", "status": ready ? "True" : "False", "reason": ready ? "KubeletReady" : "NodeStatusUnknown",
                "message": ready ? "kubelet is posting ready status" : "Kubelet stopped posting node status.",
                "lastHeartbeatTime": .string(ISO8601DateFormatter().string(from: Date())), "lastTransitionTime": .string(ISO8601DateFormatter().string(from: Date())),
            ]],
        ]
        if let gpus {
            let resources: JSONValue = ["cpu": "16", "memory": "64Gi", "pods": "110", "nvidia.com/gpu": .string(String(gpus))]
            status["capacity"] = resources
            status["allocatable"] = resources
        }
        try await client.patch("/api/v1/nodes/\(name)/status", ["status": .object(status)])
    }

    func label(_ name: String, _ key: String, _ value: String) async throws {
        try await client.patch("/api/v1/nodes/\(name)", ["metadata": ["labels": .object([key: .string(value)])]])
    }

    // MARK: Pods

    private func tick() async {
        guard let pods = try? await client.get("/api/v1/namespaces/\(namespace)/pods", timeout: 5) else { return }
        let nodes = state.withLock { $0.nodes }
        var seen: Set<String> = []
        for pod in pods["items"]?.arrayValue ?? [] {
            guard let name = pod["metadata"]?["name"]?.stringValue, let node = pod["spec"]?["nodeName"]?.stringValue, nodes.contains(node) else { continue }
            seen.insert(name)
            if pod["metadata"]?["deletionTimestamp"] != nil {
                kill(name)
                try? await client.delete("/api/v1/namespaces/\(namespace)/pods/\(name)", gracePeriodSeconds: 0, timeout: 5)
                continue
            }
            let phase = pod["status"]?["phase"]?.stringValue ?? "Pending"
            let process = state.withLock { $0.processes[name] }
            if let process {
                if !process.isRunning, phase == "Running" {
                    let code = process.terminationStatus
                    try? await status(name, ["phase": "Failed", "containerStatuses": [[
                        "name": "instance", "ready": false, "restartCount": 0, "image": "", "imageID": "",
                        "state": ["terminated": ["exitCode": .number(Double(code)), "reason": "Error"]],
                    ]]])
                }
                continue
            }
            guard phase == "Pending" else { continue }
            await run(pod, name: name)
        }
        // Pods deleted outright: their processes go.
        let orphans = state.withLock { Set($0.processes.keys).subtracting(seen) }
        for name in orphans { kill(name) }
    }

    private func kill(_ name: String) {
        guard let process = state.withLock({ $0.processes.removeValue(forKey: name) }) else { return }
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
    }

    private func run(_ pod: JSONValue, name: String) async {
        let container = pod["spec"]?["containers"]?.arrayValue?.first
        let image = container?["image"]?.stringValue ?? ""
        guard let command = images[image] else {
            try? await status(name, ["phase": "Pending", "containerStatuses": [[
                "name": "instance", "ready": false, "restartCount": 0, "image": .string(image), "imageID": "",
                "state": ["waiting": ["reason": "ImagePullBackOff", "message": .string("Back-off pulling image \"\(image)\"")]],
            ]]])
            return
        }
        var environment: [String: String] = ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"]
        for variable in container?["env"]?.arrayValue ?? [] {
            if let key = variable["name"]?.stringValue { environment[key] = variable["value"]?.stringValue ?? "" }
        }
        // The block file from the pod's volume, where this process can read it.
        if let volume = pod["spec"]?["volumes"]?.arrayValue?.first {
            let file = scratch.appendingPathComponent("\(name).json")
            var contents: String?
            if let configMap = volume["configMap"]?["name"]?.stringValue {
                contents = try? await client.get("/api/v1/namespaces/\(namespace)/configmaps/\(configMap)")["data"]?["block.json"]?.stringValue
            } else if let secret = volume["secret"]?["secretName"]?.stringValue,
                      let data = try? await client.get("/api/v1/namespaces/\(namespace)/secrets/\(secret)")["data"]?["block.json"]?.stringValue {
                contents = Data(base64Encoded: data).flatMap { String(data: $0, encoding: .utf8) }
            }
            guard let contents else { return }
            try? contents.write(to: file, atomically: true, encoding: .utf8)
            environment["AIOS_BLOCK_FILE"] = file.path
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: command[0])
        process.arguments = Array(command.dropFirst())
        process.environment = environment
        let log = scratch.appendingPathComponent("\(name).log")
        FileManager.default.createFile(atPath: log.path, contents: nil)
        process.standardOutput = try? FileHandle(forWritingTo: log)
        process.standardError = process.standardOutput
        do {
            try process.run()
        } catch {
            return
        }
        state.withLock { $0.processes[name] = process }
        try? await status(name, ["phase": "Running", "podIP": "127.0.0.1", "podIPs": [["ip": "127.0.0.1"]], "hostIP": "127.0.0.1",
                                 "startTime": .string(ISO8601DateFormatter().string(from: Date())),
                                 "containerStatuses": [[
                                     "name": "instance", "ready": true, "restartCount": 0, "image": .string(image), "imageID": "", "started": true,
                                     "state": ["running": ["startedAt": .string(ISO8601DateFormatter().string(from: Date()))]],
                                 ]]])
    }

    private func status(_ pod: String, _ status: JSONValue) async throws {
        try await client.patch("/api/v1/namespaces/\(namespace)/pods/\(pod)/status", ["status": status])
    }

    /// The namespace's objects of a kind (`pods`, `configmaps`, `secrets`), by name.
    func names(_ resource: String) async throws -> [String] {
        let list = try await client.get("/api/v1/namespaces/\(namespace)/\(resource)")
        return (list["items"]?.arrayValue ?? []).compactMap { $0["metadata"]?["name"]?.stringValue }.sorted()
    }

    func pods() async throws -> [JSONValue] {
        try await client.get("/api/v1/namespaces/\(namespace)/pods")["items"]?.arrayValue ?? []
    }

    private func ignoringConflict(_ body: @escaping () async throws -> Void) async throws {
        do {
            try await body()
        } catch let error as KubernetesError where error.isConflict {}
    }
}
