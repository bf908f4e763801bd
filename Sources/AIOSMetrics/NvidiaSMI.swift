import Foundation

/// Reads GPUs from `nvidia-smi --query-gpu=... --format=csv,noheader,nounits`.
public enum NvidiaSMI {
    public struct GPU: Sendable, Equatable {
        public var index: Int
        public var name: String
        public var uuid: String
        /// MB
        public var memoryTotal: Double
        public var memoryUsed: Double
        public var memoryFree: Double
        /// percent
        public var utilizationGPU: Double
        public var utilizationMemory: Double
    }

    /// The query fields, in the order `parse` expects them.
    public static let queryFields = [
        "index", "name", "uuid", "memory.total", "memory.used", "memory.free", "utilization.gpu", "utilization.memory",
    ]

    public static var command: [String] {
        ["nvidia-smi", "--query-gpu=" + queryFields.joined(separator: ","), "--format=csv,noheader,nounits"]
    }

    /// Parses the CSV that `command` prints. Lines that do not parse are skipped; `[N/A]` reads as 0.
    public static func parse(_ csv: String) -> [GPU] {
        csv.split(whereSeparator: \.isNewline).compactMap { line in
            let fields = line.split(separator: ",", omittingEmptySubsequences: false)
                .map { $0.trimmingCharacters(in: .whitespaces) }
            guard fields.count >= queryFields.count, let index = Int(fields[0]) else { return nil }
            func number(_ field: String) -> Double { Double(field) ?? 0 }
            return GPU(index: index, name: fields[1], uuid: fields[2],
                       memoryTotal: number(fields[3]), memoryUsed: number(fields[4]), memoryFree: number(fields[5]),
                       utilizationGPU: number(fields[6]), utilizationMemory: number(fields[7]))
        }
    }

    /// The GPUs on this machine; empty when `nvidia-smi` is absent or fails.
    public static func query(timeout: Double = 5) async -> [GPU] {
        guard let output = try? await CommandRunner.run(command, timeout: timeout) else { return [] }
        return parse(output)
    }
}
