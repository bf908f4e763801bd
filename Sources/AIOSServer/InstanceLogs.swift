import Foundation

/// Reads an instance's log file: the last lines, or what was appended after an offset (for `aios logs -f`).
enum InstanceLogs {
    static let maxChunk = 1 << 20

    static func read(_ path: String, offset: Int?, tailLines: Int) -> (text: String, nextOffset: Int) {
        guard let handle = FileHandle(forReadingAtPath: path) else { return ("", offset ?? 0) }
        defer { try? handle.close() }
        let size = Int((try? handle.seekToEnd()) ?? 0)
        if let offset {
            let start = min(max(0, offset), size)
            try? handle.seek(toOffset: UInt64(start))
            let data = (try? handle.read(upToCount: maxChunk)) ?? Data()
            return (String(decoding: data, as: UTF8.self), start + data.count)
        }
        let start = max(0, size - maxChunk)
        try? handle.seek(toOffset: UInt64(start))
        let data = (try? handle.readToEnd()) ?? Data()
        let lines = String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
        let kept = lines.suffix(tailLines + 1).joined(separator: "\n")
        return (kept, size)
    }
}
