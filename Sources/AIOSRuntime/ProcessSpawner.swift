#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import CAIOSSpawn
import Foundation

/// Starts a program in a session of its own (so its whole process tree can be signalled as one group),
/// with standard output and error appended to a log file and standard input from /dev/null.
public enum ProcessSpawner {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// A started process. `pid` is also its process-group id.
    public struct Spawned: Sendable, Equatable {
        public var pid: Int32
        /// The kernel's start time of the process (clock ticks since boot), to tell it from a later process
        /// that reuses the pid.
        public var startTime: UInt64
    }

    /// Starts `arguments` (the first is looked up on the `PATH` in `environment` when it has no `/`).
    public static func spawn(_ arguments: [String], cwd: String, environment: [String: String], logPath: String) throws -> Spawned {
        guard let program = arguments.first else { throw Failure(description: "empty command") }
        let executable = try resolve(program, path: environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin", cwd: cwd)

        let argv = arguments.map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid: pid_t = 0
        let status = aios_spawn(&pid, executable, argv, envp, cwd, logPath)
        guard status == 0 else {
            throw Failure(description: "cannot start \(program): \(String(cString: strerror(status)))")
        }
        return Spawned(pid: pid, startTime: ProcessTable.startTime(of: pid) ?? 0)
    }

    static func resolve(_ program: String, path: String, cwd: String) throws -> String {
        if program.contains("/") {
            let absolute = program.hasPrefix("/") ? program : URL(fileURLWithPath: cwd).appendingPathComponent(program).standardized.path
            guard access(absolute, X_OK) == 0 else { throw Failure(description: "\(absolute) is not an executable file") }
            return absolute
        }
        for directory in path.split(separator: ":") {
            let candidate = "\(directory)/\(program)"
            if access(candidate, X_OK) == 0 { return candidate }
        }
        throw Failure(description: "\(program) not found on PATH \(path)")
    }
}

/// Facts about running processes, from `/proc`.
public enum ProcessTable {
    /// Field 22 of `/proc/PID/stat`: when the process started, in clock ticks since boot.
    public static func startTime(of pid: Int32) -> UInt64? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return nil }
        // Fields after the command name (which may hold spaces) start at field 3.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 19 else { return nil }
        return UInt64(fields[19])
    }

    /// Whether `pid` is the same live process that started at `startTime` (not a zombie, not a reused pid).
    public static func isAlive(pid: Int32, startTime: UInt64) -> Bool {
        guard pid > 0, let current = self.startTime(of: pid), current == startTime else { return false }
        if let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
           let close = stat.lastIndex(of: ")") {
            let state = stat[stat.index(after: close)...].split(separator: " ").first
            if state == "Z" { return false }
        }
        return true
    }
}

/// A loopback TCP port that was free a moment ago.
public enum FreePort {
    public static func find(host: String = "127.0.0.1") throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw ProcessSpawner.Failure(description: "socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr(host)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else { throw ProcessSpawner.Failure(description: "bind: \(String(cString: strerror(errno)))") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard named == 0 else { throw ProcessSpawner.Failure(description: "getsockname: \(String(cString: strerror(errno)))") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
