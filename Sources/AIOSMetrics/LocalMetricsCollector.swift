import Foundation
import Synchronization

/// Samples this machine: `/proc/loadavg`, `/proc/meminfo`, `/proc/stat` (CPU busy % since the last sample),
/// and GPUs from `nvidia-smi` when present.
public final class LocalMetricsCollector: Sendable {
    private let previousCPU = Mutex<ProcStat.CPUTimes?>(nil)

    public init() {}

    public func sample() async -> NodeMetrics {
        let loads = read("/proc/loadavg").flatMap(ProcStat.loadAverages) ?? (0, 0, 0)
        let meminfo = read("/proc/meminfo").map(MemInfo.parse) ?? [:]
        let total = (meminfo["MemTotal"] ?? 0) / 1024
        let available = (meminfo["MemAvailable"] ?? meminfo["MemFree"] ?? 0) / 1024
        let cpu = read("/proc/stat").flatMap(ProcStat.cpuTimes)
        let usage = previousCPU.withLock { previous in
            defer { previous = cpu ?? previous }
            return cpu.flatMap { current in previous.flatMap { current.usage(since: $0) } }
        }
        let gpus = await NvidiaSMI.query().map { gpu in
            GPUMetrics(gpuId: String(gpu.index), cudaUtilization: gpu.utilizationGPU, memUtilization: gpu.utilizationMemory,
                       freeMem: gpu.memoryFree, usedMem: gpu.memoryUsed, totalMem: gpu.memoryTotal)
        }
        return NodeMetrics(load1m: loads.0, load5m: loads.1, load15m: loads.2, cpuUsage: usage,
                           memoryFree: available.rounded(), memoryUsed: max(0, total - available).rounded(), gpus: gpus)
    }

    private func read(_ path: String) -> String? {
        try? String(contentsOfFile: path, encoding: .utf8)
    }
}
