import AIOSModel
import Foundation

/// Records a running program's pid and start time in a file while it runs, so a platform restarted after a
/// crash can stop what its predecessor left behind. The pair identifies the process: a reused pid is never
/// signalled.
public struct RunFile: Sendable {
    public let url: URL

    public init(url: URL) {
        self.url = url
    }

    /// Records `child` (and `details`, e.g. the mode it runs in). A failure is returned to the caller, which
    /// should say that a crash would leave the program unstopped.
    public func record(_ child: ChildProcess, details: [String: JSONValue] = [:]) throws {
        var record = details
        record["pid"] = .number(Double(child.pid))
        record["startTime"] = .number(Double(child.startTime))
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try JSONValue.object(record).jsonData().write(to: url, options: .atomic)
    }

    /// Stops the program the file names if it still runs (SIGTERM to its group, SIGKILL after `grace`), then
    /// removes the file. Returns the record when a program was stopped.
    @discardableResult
    public func stopLeftover(grace: Double) async -> JSONValue? {
        defer { remove() }
        guard let data = try? Data(contentsOf: url), let record = JSONValue.decodeJSON(data),
              let pid = record["pid"]?.intValue, let startTime = record["startTime"]?.numberValue else { return nil }
        return await OrphanReaper.stop(pid: Int32(pid), startTime: UInt64(startTime), grace: grace) ? record : nil
    }

    public func remove() {
        try? FileManager.default.removeItem(at: url)
    }
}
