import AIOSModel
import Foundation

/// Records a running program's pid and start time in a file while it runs, so a platform restarted after a
/// crash can stop what its predecessor left behind. The pair identifies the process: a reused pid is never
/// signalled. For a spawn the intent is recorded first (`recordIntent`, with the marker put in the program's
/// environment), so a crash between the spawn and `record` still leaves enough to find the program.
public struct RunFile: Sendable {
    public let url: URL

    public init(url: URL) {
        self.url = url
    }

    /// Before a spawn: records `details` and the `marker` the program will carry in its environment
    /// (`SpawnMarker.variable`). Written before the program exists, so no crash of the spawner can leave a
    /// program that nothing records.
    public func recordIntent(marker: String, details: [String: JSONValue] = [:]) throws {
        var record = details
        record["spawnMarker"] = .string(marker)
        try write(record)
    }

    /// Records `child` (and `details`, e.g. the mode it runs in). A failure is returned to the caller, which
    /// should say that a crash would leave the program unstopped.
    public func record(_ child: ChildProcess, details: [String: JSONValue] = [:]) throws {
        var record = details
        record["pid"] = .number(Double(child.pid))
        record["startTime"] = .number(Double(child.startTime))
        try write(record)
    }

    /// Adds `child` to a record made by `recordIntent`, keeping its marker and details.
    public func recordSpawned(_ child: ChildProcess) throws {
        var record = (try? Data(contentsOf: url)).flatMap(JSONValue.decodeJSON)?.objectValue ?? [:]
        record["pid"] = .number(Double(child.pid))
        record["startTime"] = .number(Double(child.startTime))
        try write(record)
    }

    private func write(_ record: [String: JSONValue]) throws {
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try JSONValue.object(record).jsonData().write(to: url, options: .atomic)
    }

    /// Stops the program the file names if it still runs (SIGTERM to its group, SIGKILL after `grace`), then
    /// removes the file. A record without a pid (the spawner crashed before recording it) is matched by its
    /// spawn marker. Returns the record when a program was stopped.
    @discardableResult
    public func stopLeftover(grace: Double) async -> JSONValue? {
        defer { remove() }
        guard let data = try? Data(contentsOf: url), let record = JSONValue.decodeJSON(data) else { return nil }
        if let pid = record["pid"]?.intValue, let startTime = record["startTime"]?.numberValue {
            return await OrphanReaper.stop(pid: Int32(pid), startTime: UInt64(startTime), grace: grace) ? record : nil
        }
        // Spawned (or about to be) but never recorded: look for the marker (a scan of /proc, so only then).
        if let marker = record["spawnMarker"]?.stringValue {
            return await SpawnMarker.stop(marked: marker, grace: grace) ? record : nil
        }
        return nil
    }

    public func remove() {
        try? FileManager.default.removeItem(at: url)
    }
}
