import Foundation

/// Looks at this machine's processes the way a person would with `ps`: which run for a block.
enum InstanceProcesses {
    /// Pids of live (non-zombie) processes that run an instance of `blockId` for the platform whose data
    /// directory is `dataDirectory` (their environment has `AIOS_BLOCK_ID` and an `AIOS_BLOCK_FILE` in it).
    static func running(blockId: String, dataDirectory: URL) -> [Int32] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap(Int32.init).filter { pid in
            guard alive(pid), let environ = FileManager.default.contents(atPath: "/proc/\(pid)/environ") else { return false }
            let variables = environ.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            return variables.contains("AIOS_BLOCK_ID=\(blockId)")
                && variables.contains { $0.hasPrefix("AIOS_BLOCK_FILE=\(dataDirectory.path)/") }
        }
    }

    /// Pids of live instance processes (they have `AIOS_INSTANCE_ID`) of the platform whose data directory is
    /// `dataDirectory`, whatever their block.
    static func instances(dataDirectory: URL) -> [Int32] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap(Int32.init).filter { pid in
            guard alive(pid), let environ = FileManager.default.contents(atPath: "/proc/\(pid)/environ") else { return false }
            let variables = environ.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            return variables.contains { $0.hasPrefix("AIOS_INSTANCE_ID=") }
                && variables.contains { $0.hasPrefix("AIOS_BLOCK_FILE=\(dataDirectory.path)/") }
        }
    }

    static func describe(_ pid: Int32) -> String {
        let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? "?"
        return "\(pid): \(stat.prefix(80))"
    }

    /// Whether `pid` is a live process (zombies count as gone).
    static func alive(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") else { return false }
        return stat[stat.index(after: close)...].split(separator: " ").first != "Z"
    }
}
