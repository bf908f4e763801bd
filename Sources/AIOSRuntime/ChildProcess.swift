#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// A process this runtime started, in a process group of its own.
public struct ChildProcess: Sendable, Equatable {
    public var pid: Int32
    public var startTime: UInt64

    public init(pid: Int32, startTime: UInt64) {
        self.pid = pid
        self.startTime = startTime
    }

    /// Waits until the process exits (on a thread of its own, so no executor thread blocks) and returns
    /// its exit status, or 128 + the signal that killed it. What is left of its process group (workers,
    /// a wrapped program) is killed while the exited leader still holds the group id, so the signal cannot
    /// reach a process that reused it.
    public func waitForExit() async -> Int32 {
        let pid = self.pid
        return await withCheckedContinuation { continuation in
            let thread = Thread {
                var info = siginfo_t()
                while waitid(P_PID, id_t(pid), &info, WEXITED | WNOWAIT) == -1 && errno == EINTR {}
                _ = kill(-pid, SIGKILL)
                var status: Int32 = 0
                var result: pid_t
                repeat {
                    result = waitpid(pid, &status, 0)
                } while result == -1 && errno == EINTR
                guard result == pid else {
                    continuation.resume(returning: -1)
                    return
                }
                let signal = status & 0x7f
                continuation.resume(returning: signal == 0 ? (status >> 8) & 0xff : 128 + signal)
            }
            thread.name = "aios-wait-\(pid)"
            thread.start()
        }
    }

    /// Sends `signal` to the whole process group.
    public func signalGroup(_ signal: Int32) {
        _ = kill(-pid, signal)
    }
}

/// Stops process groups left behind by an earlier run (after a crash or `kill -9` of `aios up`).
public enum OrphanReaper {
    /// SIGTERM to the group, then SIGKILL after `grace` seconds if anything is left. Only when the recorded
    /// process is still the same one (pid and start time match), so a reused pid is never signalled.
    public static func stop(pid: Int32, startTime: UInt64, grace: Double) async -> Bool {
        guard ProcessTable.isAlive(pid: pid, startTime: startTime) else {
            // The leader is gone (or a zombie): members of its group may still run. While any does, the
            // group id cannot have been reused, so the group is still the instance's.
            guard pid > 0, kill(-pid, 0) == 0 else { return false }
            _ = kill(-pid, SIGKILL)
            return true
        }
        _ = kill(-pid, SIGTERM)
        let deadline = Date().addingTimeInterval(grace)
        // An orphan's exit is reaped by init (or by nobody, in some containers): watch the leader's state,
        // not the group's membership, which a zombie keeps.
        while Date() < deadline && ProcessTable.isAlive(pid: pid, startTime: startTime) {
            try? await Task.sleep(for: .milliseconds(50))
        }
        _ = kill(-pid, SIGKILL)  // whatever else is left in the group
        return true
    }
}
