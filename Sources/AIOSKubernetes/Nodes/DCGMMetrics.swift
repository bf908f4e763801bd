import AIOSMetrics
import Foundation

/// A DCGM exporter's Prometheus text as node metrics: per GPU (`gpu` label) of each node (`Hostname`, or
/// `kubernetes_node`/`node` where a scrape configuration relabels it), `DCGM_FI_DEV_GPU_UTIL` (percent),
/// `DCGM_FI_DEV_MEM_COPY_UTIL` (percent), `DCGM_FI_DEV_FB_FREE` and `DCGM_FI_DEV_FB_USED` (MiB).
public enum DCGMMetrics {
    static let nodeLabels = ["kubernetes_node", "node", "Hostname"]

    /// GPU metrics by node name.
    public static func parse(_ text: String) -> [String: [GPUMetrics]] {
        var values: [String: [String: [String: Double]]] = [:]  // node → gpu → metric → value
        for line in text.split(separator: "\n") where line.hasPrefix("DCGM_FI_DEV_") {
            guard let brace = line.firstIndex(of: "{"), let close = line.lastIndex(of: "}"), brace < close else { continue }
            let metric = String(line[..<brace])
            guard ["DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_DEV_MEM_COPY_UTIL", "DCGM_FI_DEV_FB_FREE", "DCGM_FI_DEV_FB_USED"].contains(metric),
                  let value = Double(line[line.index(after: close)...].trimmingCharacters(in: .whitespaces).split(separator: " ").first ?? "") else { continue }
            let labels = Self.labels(line[line.index(after: brace)..<close])
            guard let node = nodeLabels.lazy.compactMap({ labels[$0] }).first, let gpu = labels["gpu"] else { continue }
            values[node, default: [:]][gpu, default: [:]][metric] = value
        }
        return values.mapValues { gpus in
            gpus.sorted { (Int($0.key) ?? 0, $0.key) < (Int($1.key) ?? 0, $1.key) }.map { gpu, metrics in
                let free = metrics["DCGM_FI_DEV_FB_FREE"] ?? 0, used = metrics["DCGM_FI_DEV_FB_USED"] ?? 0
                return GPUMetrics(gpuId: gpu, cudaUtilization: metrics["DCGM_FI_DEV_GPU_UTIL"] ?? 0,
                                  memUtilization: metrics["DCGM_FI_DEV_MEM_COPY_UTIL"] ?? 0, freeMem: free, usedMem: used, totalMem: free + used)
            }
        }
    }

    /// `a="x",b="y"` → `[a: x, b: y]` (escapes `\"`, `\\` and `\n` read back).
    static func labels(_ text: Substring) -> [String: String] {
        var labels: [String: String] = [:]
        var index = text.startIndex
        while index < text.endIndex {
            guard let equals = text[index...].firstIndex(of: "=") else { break }
            let key = text[index..<equals].trimmingCharacters(in: CharacterSet(charactersIn: ", "))
            var cursor = text.index(after: equals)
            guard cursor < text.endIndex, text[cursor] == "\"" else { break }
            cursor = text.index(after: cursor)
            var value = ""
            while cursor < text.endIndex, text[cursor] != "\"" {
                if text[cursor] == "\\", text.index(after: cursor) < text.endIndex {
                    cursor = text.index(after: cursor)
                    value.append(text[cursor] == "n" ? "\n" : text[cursor])
                } else {
                    value.append(text[cursor])
                }
                cursor = text.index(after: cursor)
            }
            labels[key] = value
            index = cursor < text.endIndex ? text.index(after: cursor) : cursor
        }
        return labels
    }
}
