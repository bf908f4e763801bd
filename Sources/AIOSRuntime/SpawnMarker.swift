#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// Finds processes by a variable their spawner put in their environment (`AIOS_SPAWN_ID=<uuid>`), so a
/// process whose pid was never recorded (its spawner crashed right after spawning it) can still be found.
/// The marker is inherited by everything the process starts, so the whole tree is found.
public enum SpawnMarker {
    public static let variable = "AIOS_SPAWN_ID"

    public static func make() -> String {
        UUID().uuidString.lowercased()
    }

    /// Live processes (pid and start time) whose environment holds `variable=marker`.
    public static func processes(marked marker: String) -> [ChildProcess] {
        let wanted = Array("\(variable)=\(marker)".utf8)
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap(Int32.init).compactMap { pid -> ChildProcess? in
            guard pid != getpid(), let environ = FileManager.default.contents(atPath: "/proc/\(pid)/environ"),
                  environ.split(separator: 0).contains(where: { $0.elementsEqual(wanted) }),
                  let startTime = ProcessTable.startTime(of: pid), ProcessTable.isAlive(pid: pid, startTime: startTime) else { return nil }
            return ChildProcess(pid: pid, startTime: startTime)
        }
    }

    /// Stops every process marked `marker`: each process group it leads (SIGTERM, SIGKILL after `grace`), then
    /// SIGKILL to any marked process left outside those groups. Returns whether anything was running.
    public static func stop(marked marker: String, grace: Double) async -> Bool {
        let found = processes(marked: marker)
        for leader in found where getpgid(leader.pid) == leader.pid {
            _ = await OrphanReaper.stop(pid: leader.pid, startTime: leader.startTime, grace: grace)
        }
        for process in processes(marked: marker) {
            _ = kill(process.pid, SIGKILL)
        }
        return !found.isEmpty
    }
}
