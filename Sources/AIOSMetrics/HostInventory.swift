import AIOSModel
import Foundation

/// What this machine has: cores, memory, swap and GPUs, as a node document.
public struct HostInventory: Sendable, Equatable {
    public var hostname: String
    public var cores: Int
    /// MB
    public var memory: Double
    /// MB
    public var swap: Double
    public var gpus: [NvidiaSMI.GPU]

    public init(hostname: String, cores: Int, memory: Double, swap: Double, gpus: [NvidiaSMI.GPU]) {
        self.hostname = hostname
        self.cores = cores
        self.memory = memory
        self.swap = swap
        self.gpus = gpus
    }

    /// Reads this machine: `sysconf` for cores, `/proc/meminfo` for memory, `nvidia-smi` for GPUs.
    public static func collect() async -> HostInventory {
        let meminfo = (try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8)).map(MemInfo.parse) ?? [:]
        return HostInventory(
            hostname: ProcessInfo.processInfo.hostName,
            cores: ProcessInfo.processInfo.activeProcessorCount,
            memory: (meminfo["MemTotal"] ?? Double(ProcessInfo.processInfo.physicalMemory) / 1024) / 1024,
            swap: (meminfo["SwapTotal"] ?? 0) / 1024,
            gpus: await NvidiaSMI.query())
    }

    /// This host as node `id` of the embedded cluster.
    public func nodeDocument(id: String) -> [String: JSONValue] {
        [
            "id": .string(id),
            "vcpus": ["count": .number(Double(cores))],
            "memory": .number(memory.rounded()),
            "swap": .number(swap.rounded()),
            "gpus": [
                "count": .number(Double(gpus.count)),
                "memory": .number(gpus.reduce(0) { $0 + $1.memoryTotal }),
                "modelNames": .array(Array(Set(gpus.map(\.name))).sorted().map(JSONValue.string)),
                "gpus": .array(gpus.map { ["gpu_id": .string(String($0.index)), "modelName": .string($0.name), "memory": .number($0.memoryTotal)] }),
            ],
            "labels": ["hostname": .string(hostname)],
        ]
    }
}

/// `/proc/meminfo` as `key → kB`.
public enum MemInfo {
    public static func parse(_ text: String) -> [String: Double] {
        var values: [String: Double] = [:]
        for line in text.split(whereSeparator: \.isNewline) {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let fields = line[line.index(after: colon)...].split(separator: " ")
            if let first = fields.first, let value = Double(first) {
                values[String(line[..<colon])] = value
            }
        }
        return values
    }
}
