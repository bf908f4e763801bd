import AIOSModel

/// One GPU's live state, in AIOS names (memory in MB, utilisation in percent).
public struct GPUMetrics: Sendable, Equatable {
    public var gpuId: String
    public var cudaUtilization: Double
    public var memUtilization: Double
    public var freeMem: Double
    public var usedMem: Double
    public var totalMem: Double

    public init(gpuId: String, cudaUtilization: Double, memUtilization: Double, freeMem: Double, usedMem: Double, totalMem: Double) {
        self.gpuId = gpuId
        self.cudaUtilization = cudaUtilization
        self.memUtilization = memUtilization
        self.freeMem = freeMem
        self.usedMem = usedMem
        self.totalMem = totalMem
    }

    var document: JSONValue {
        ["gpu_id": .string(gpuId), "cudaUtilization": .number(cudaUtilization), "memUtilization": .number(memUtilization),
         "freeMem": .number(freeMem), "usedMem": .number(usedMem), "totalMem": .number(totalMem)]
    }
}

/// A node's live metrics in the AIOS shape: `vcpu{load1m,load5m,load15m}`, `memory{freeMem,usedMem}`,
/// `gpu{count,totalMem,totalFreeMem,totalUsedMem,avgCudaUtilization,avgMemUtilization}`, `gpus[...]`.
public struct NodeMetrics: Sendable, Equatable {
    public var load1m: Double
    public var load5m: Double
    public var load15m: Double
    /// Percent of all cores busy, when known.
    public var cpuUsage: Double?
    public var memoryFree: Double
    public var memoryUsed: Double
    public var gpus: [GPUMetrics]

    public init(load1m: Double, load5m: Double, load15m: Double, cpuUsage: Double?, memoryFree: Double, memoryUsed: Double, gpus: [GPUMetrics]) {
        self.load1m = load1m
        self.load5m = load5m
        self.load15m = load15m
        self.cpuUsage = cpuUsage
        self.memoryFree = memoryFree
        self.memoryUsed = memoryUsed
        self.gpus = gpus
    }

    public var memoryTotal: Double { memoryFree + memoryUsed }

    /// A node's declared capacity as metrics: all of it free and idle (`gpus.gpus[].memory` per GPU, else an even
    /// share of `gpus.memory`; GPU ids `0`...), for nodes no collector reports.
    public static func allocatable(of node: NodeSpec) -> NodeMetrics {
        let document = JSONValue.object(node.document)
        let declared = document["gpus"]?["gpus"]?.arrayValue ?? []
        let count = node.gpuCount
        let share = count > 0 ? (document["gpus"]?["memory"]?.numberValue ?? 0) / Double(count) : 0
        let gpus = (0..<count).map { index in
            let memory = (declared.indices.contains(index) ? declared[index]["memory"]?.numberValue : nil) ?? share
            return GPUMetrics(gpuId: String(index), cudaUtilization: 0, memUtilization: 0, freeMem: memory, usedMem: 0, totalMem: memory)
        }
        return NodeMetrics(load1m: 0, load5m: 0, load15m: 0, cpuUsage: nil, memoryFree: document["memory"]?.numberValue ?? 0, memoryUsed: 0, gpus: gpus)
    }

    /// The AIOS node metrics document.
    public var document: [String: JSONValue] {
        var vcpu: [String: JSONValue] = [
            "load1m": .number(load1m), "load5m": .number(load5m), "load15m": .number(load15m),
            "load_1m": .number(load1m), "load_5m": .number(load5m), "load_15m": .number(load15m),
        ]
        if let cpuUsage { vcpu["usage"] = .number(cpuUsage) }
        return [
            "vcpu": .object(vcpu),
            "memory": ["freeMem": .number(memoryFree), "usedMem": .number(memoryUsed), "totalMem": .number(memoryTotal)],
            "gpu": Self.gpuSummary(gpus),
            "gpus": .array(gpus.map(\.document)),
        ]
    }

    /// Totals summed, utilisations averaged over GPUs.
    static func gpuSummary(_ gpus: [GPUMetrics]) -> JSONValue {
        let count = Double(gpus.count)
        return [
            "count": .number(count),
            "totalMem": .number(gpus.reduce(0) { $0 + $1.totalMem }),
            "totalFreeMem": .number(gpus.reduce(0) { $0 + $1.freeMem }),
            "totalUsedMem": .number(gpus.reduce(0) { $0 + $1.usedMem }),
            "avgCudaUtilization": .number(count == 0 ? 0 : gpus.reduce(0) { $0 + $1.cudaUtilization } / count),
            "avgMemUtilization": .number(count == 0 ? 0 : gpus.reduce(0) { $0 + $1.memUtilization } / count),
        ]
    }

    /// Reads pushed metrics (`POST /api/nodeMetrics`). The AIOS DaemonSet's `resource.node` wrapper is accepted.
    /// Per-GPU entries need `freeMem` or `usedMem` with `totalMem`; the `gpu` summary is always recomputed.
    public init(document: [String: JSONValue], at path: FieldPath) throws(APIError) {
        var document = document
        var path = path
        if let inner = document["resource"]?["node"]?.objectValue {
            document = inner
            path = path / "resource" / "node"
        }
        var reader = FieldReader()
        let vcpu = reader.object(document, "vcpu", at: path) ?? [:]
        func load(_ name: String) -> Double {
            let key = vcpu[name] != nil ? name : DocumentKeys.underscored(name)
            return reader.number(vcpu, key, at: path / "vcpu", minimum: 0) ?? 0
        }
        let load1m = load("load1m"), load5m = load("load5m"), load15m = load("load15m")
        let usage = reader.number(vcpu, "usage", at: path / "vcpu", minimum: 0)
        let memory = reader.object(document, "memory", at: path) ?? [:]
        let freeMem = reader.number(memory, "freeMem", at: path / "memory", minimum: 0) ?? 0
        var usedMem = reader.number(memory, "usedMem", at: path / "memory", minimum: 0)
        if usedMem == nil, let total = reader.number(memory, "totalMem", at: path / "memory", minimum: 0) {
            usedMem = max(0, total - freeMem)
        }
        var gpus: [GPUMetrics] = []
        if let list = reader.array(document, "gpus", at: path) {
            for (index, element) in list.enumerated() {
                let gpuPath = path / "gpus" / index
                guard let gpu = element.objectValue else {
                    reader.fail(gpuPath, "expected an object {gpu_id, cudaUtilization, memUtilization, freeMem, usedMem, totalMem}")
                    continue
                }
                let id = gpu["gpu_id"]?.stringValue ?? gpu["gpu_id"]?.intValue.map(String.init) ?? String(index)
                let cuda = reader.number(gpu, "cudaUtilization", at: gpuPath, minimum: 0) ?? 0
                let free = reader.number(gpu, "freeMem", at: gpuPath, minimum: 0)
                let used = reader.number(gpu, "usedMem", at: gpuPath, minimum: 0)
                let total = reader.number(gpu, "totalMem", at: gpuPath, minimum: 0)
                guard let totalMem = total ?? (free != nil && used != nil ? free! + used! : nil) else {
                    reader.fail(gpuPath / "totalMem", "required unless freeMem and usedMem are both given")
                    continue
                }
                let freeMem = free ?? max(0, totalMem - (used ?? 0))
                let usedMem = used ?? max(0, totalMem - freeMem)
                if freeMem > totalMem {
                    reader.fail(gpuPath / "freeMem", "is \(freeMem.formatted) MB, more than totalMem \(totalMem.formatted) MB")
                }
                if cuda > 100 { reader.fail(gpuPath / "cudaUtilization", "is a percentage (0-100), got \(cuda.formatted)") }
                let memUtil = reader.number(gpu, "memUtilization", at: gpuPath, minimum: 0) ?? (totalMem > 0 ? usedMem / totalMem * 100 : 0)
                gpus.append(GPUMetrics(gpuId: id, cudaUtilization: cuda, memUtilization: memUtil, freeMem: freeMem, usedMem: usedMem, totalMem: totalMem))
            }
        }
        try reader.check()
        self.init(load1m: load1m, load5m: load5m, load15m: load15m, cpuUsage: usage,
                  memoryFree: freeMem, memoryUsed: usedMem ?? 0, gpus: gpus)
    }
}

enum DocumentKeys {
    /// `load15m` → `load_15m`.
    static func underscored(_ key: String) -> String {
        key.hasPrefix("load") && !key.hasPrefix("load_") ? "load_" + key.dropFirst(4) : key
    }
}
