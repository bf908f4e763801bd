import AIOSModel

/// A Kubernetes `Node` as a node document: allocatable `cpu`, `memory` and `nvidia.com/gpu`, the GPU product
/// (`nvidia.com/gpu.product`) and per-GPU memory (`nvidia.com/gpu.memory`, MiB) from GPU feature discovery's
/// labels, its labels, and whether it may be placed on (`Ready`, not cordoned, no taint its pods do not tolerate).
/// `discovered: true` marks it as the API's, not declared with `addNode`.
public struct KubernetesNode: Sendable, Equatable {
    public static let gpuResource = "nvidia.com/gpu"
    public static let gpuProductLabel = "nvidia.com/gpu.product"
    public static let gpuMemoryLabel = "nvidia.com/gpu.memory"
    /// Taints the platform's pods tolerate (the usual taint of GPU node pools).
    public static let toleratedTaintKeys: Set<String> = [gpuResource]
    /// The most GPUs a node is taken to have.
    public static let maxGPUs = 1024

    public var name: String
    public var labels: [String: String]
    public var cpus: Double
    /// MB
    public var memory: Double
    public var gpus: Int
    public var gpuProduct: String?
    /// MB per GPU, when labelled.
    public var gpuMemory: Double?
    public var ready: Bool
    /// The `Ready` condition's reason and message when it is not `True`.
    public var readyReason: String?
    public var unschedulable: Bool
    /// `key=value:Effect` of each taint.
    public var taints: [String]
    /// Taints that keep the platform's pods off it.
    public var blockingTaints: [String]
    /// Taints that evict pods that do not tolerate them (`NoExecute`).
    public var evictingTaints: [String]

    public init?(object: JSONValue) {
        guard let name = object["metadata"]?["name"]?.stringValue, !name.isEmpty else { return nil }
        self.name = name
        labels = object["metadata"]?["labels"]?.objectValue?.compactMapValues(\.stringValue) ?? [:]
        let allocatable = object["status"]?["allocatable"] ?? object["status"]?["capacity"]
        cpus = allocatable?["cpu"]?.stringValue.flatMap(KubernetesQuantity.parse) ?? 0
        memory = allocatable?["memory"]?.stringValue.flatMap(KubernetesQuantity.megabytes) ?? 0
        // A server's number: bounded (a node has no more GPUs than this; the document lists each one).
        gpus = KubernetesQuantity.whole(allocatable?[Self.gpuResource]?.stringValue.flatMap(KubernetesQuantity.parse) ?? 0, limit: Self.maxGPUs)
        gpuProduct = labels[Self.gpuProductLabel]
        gpuMemory = labels[Self.gpuMemoryLabel].flatMap(Double.init)
        let conditions = object["status"]?["conditions"]?.arrayValue ?? []
        let readyCondition = conditions.first { $0["type"]?.stringValue == "Ready" }
        ready = readyCondition?["status"]?.stringValue == "True"
        readyReason = ready ? nil : [readyCondition?["reason"]?.stringValue, readyCondition?["message"]?.stringValue]
            .compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: ": ")
        unschedulable = object["spec"]?["unschedulable"]?.boolValue ?? false
        var taints: [String] = [], blocking: [String] = [], evicting: [String] = []
        for taint in object["spec"]?["taints"]?.arrayValue ?? [] {
            let key = taint["key"]?.stringValue ?? "", effect = taint["effect"]?.stringValue ?? ""
            let text = "\(key)\(taint["value"]?.stringValue.map { "=\($0)" } ?? ""):\(effect)"
            taints.append(text)
            guard effect != "PreferNoSchedule", !Self.toleratedTaintKeys.contains(key) else { continue }
            blocking.append(text)
            if effect == "NoExecute" { evicting.append(text) }
        }
        self.taints = taints
        blockingTaints = blocking
        evictingTaints = evicting
    }

    /// Why the platform does not place on it, or `nil` when it may.
    public var schedulingProblem: String? {
        if !ready { return "node is NotReady" + (readyReason.map { $0.isEmpty ? "" : " (\($0))" } ?? "") }
        if unschedulable { return "node is cordoned (spec.unschedulable)" }
        if !blockingTaints.isEmpty { return "node has taints the platform's pods do not tolerate: \(blockingTaints.joined(separator: ", "))" }
        return nil
    }

    /// Why the instances on it are gone or going (NotReady, or a `NoExecute` taint), or `nil`. A cordon or a
    /// `NoSchedule` taint keeps new work off a node but leaves what runs there running, as Kubernetes does.
    public var lossReason: String? {
        if !ready { return schedulingProblem }
        if !evictingTaints.isEmpty { return "node has taints that evict the platform's pods: \(evictingTaints.joined(separator: ", "))" }
        return nil
    }

    /// The node document placement and `/api/clusters/{id}` read.
    public var spec: NodeSpec {
        var gpuList: [JSONValue] = []
        for _ in 0..<max(0, gpus) {
            var gpu: [String: JSONValue] = [:]
            if let gpuProduct { gpu["modelName"] = .string(gpuProduct) }
            if let gpuMemory { gpu["memory"] = .number(gpuMemory) }
            gpuList.append(.object(gpu))
        }
        var document: [String: JSONValue] = [
            "id": .string(name),
            "discovered": true,
            "gpus": [
                "count": .number(Double(gpus)), "memory": .number((gpuMemory ?? 0) * Double(gpus)), "gpus": .array(gpuList),
                "modelNames": .array(gpuProduct.map { [.string($0)] } ?? []),
            ],
            "vcpus": ["count": .number(cpus)],
            "memory": .number(memory.rounded(.down)),
            "labels": .object(labels.mapValues(JSONValue.string)),
            "kubernetes": [
                "ready": .bool(ready), "unschedulable": .bool(unschedulable), "taints": .array(taints.map(JSONValue.string)),
            ],
        ]
        if let schedulingProblem { document["schedulingProblem"] = .string(schedulingProblem) }
        return NodeSpec(id: name, document: document)
    }
}
