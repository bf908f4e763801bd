import AIOSModel
import Foundation

/// Reads an instance's log file: the last lines, or what was appended after an offset (for `aios logs -f`).
public enum InstanceLogs {
    public static let maxChunk = 1 << 20

    public static func read(_ path: String, offset: Int?, tailLines: Int) -> LogChunk {
        guard let handle = FileHandle(forReadingAtPath: path) else { return LogChunk(text: "", nextOffset: offset ?? 0) }
        defer { try? handle.close() }
        let size = Int((try? handle.seekToEnd()) ?? 0)
        if let offset {
            let start = min(max(0, offset), size)
            try? handle.seek(toOffset: UInt64(start))
            let data = (try? handle.read(upToCount: maxChunk)) ?? Data()
            return LogChunk(text: String(decoding: data, as: UTF8.self), nextOffset: start + data.count)
        }
        let start = max(0, size - maxChunk)
        try? handle.seek(toOffset: UInt64(start))
        let data = (try? handle.readToEnd()) ?? Data()
        let lines = String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
        let kept = lines.suffix(tailLines + 1).joined(separator: "\n")
        return LogChunk(text: kept, nextOffset: size)
    }

    /// An init program's log with the credentials in its `AIOS_INIT_STAGE` lines (its result may hold the API key of
    /// the system it deployed) shown as `"***"`, as the block's reads show them.
    public static func redactingInitStages(_ text: String) -> String {
        let prefix = "AIOS_INIT_STAGE "
        guard text.contains(prefix) else { return text }
        return text.split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
            guard line.hasPrefix(prefix) else { return String(line) }
            guard let stage = JSONValue.decodeJSON(Data(line.dropFirst(prefix.count).utf8)) else { return prefix + "(unreadable stage line)" }
            return prefix + SecretValues.redactedByName(stage).jsonString()
        }.joined(separator: "\n")
    }
}
