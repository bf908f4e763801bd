import CAIOSSpawn
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// One started worker: its pid (also its process group), the pipe its requests go into and the pipe its
/// replies come out of. Frames are a 4-byte big-endian length and that many bytes of JSON (see
/// docs/policy-worker.md). Reads and writes block, so they run on the worker's own serial queue; a
/// deadline is enforced by killing the process, which ends any blocked read or write.
final class PolicyWorkerProcess: @unchecked Sendable {
    /// Frames over this size are refused in both directions.
    static let maxFrameBytes = 16 * 1024 * 1024

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    let pid: Int32
    private let requests: Int32
    private let replies: Int32
    private let queue: DispatchQueue
    private let lock = NSLock()
    private var killed = false
    private var reaped: Int32?

    private init(pid: Int32, requests: Int32, replies: Int32) {
        self.pid = pid
        self.requests = requests
        self.replies = replies
        self.queue = DispatchQueue(label: "aios.policy-worker.\(pid)")
    }

    /// Starts `arguments` in a session of its own, with standard error appended to `logPath`.
    static func start(_ arguments: [String], environment: [String: String], directory: String, logPath: String) throws -> PolicyWorkerProcess {
        guard let program = arguments.first else { throw Failure(description: "empty command") }
        Self.ignoreBrokenPipes
        let argv = arguments.map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid: pid_t = 0
        var requests: Int32 = -1
        var replies: Int32 = -1
        let status = aios_spawn_piped(&pid, program, argv, envp, directory, logPath, &requests, &replies)
        guard status == 0 else { throw Failure(description: "cannot start \(program): \(String(cString: strerror(status)))") }
        return PolicyWorkerProcess(pid: pid, requests: requests, replies: replies)
    }

    /// A write into a pipe whose reader died must fail with EPIPE, not kill the platform.
    private static let ignoreBrokenPipes: Void = { _ = signal(SIGPIPE, SIG_IGN) }()

    /// Sends one request and reads one reply frame. Throws when the worker is gone or breaks the framing.
    func roundTrip(_ request: Data) async throws -> Data {
        try await withCheckedThrowingContinuation { continuation in
            queue.async {
                continuation.resume(with: Result { try self.exchange(request) })
            }
        }
    }

    private func exchange(_ request: Data) throws -> Data {
        var header = UInt32(request.count).bigEndian
        var frame = Data(bytes: &header, count: 4)
        frame.append(request)
        try frame.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let written = write(requests, raw.baseAddress! + offset, raw.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    throw Failure(description: "the worker stopped reading (\(String(cString: strerror(errno))))")
                }
                offset += written
            }
        }
        let lengthBytes = try read(count: 4)
        let length = lengthBytes.withUnsafeBytes { UInt32(bigEndian: $0.loadUnaligned(as: UInt32.self)) }
        guard Int(length) <= Self.maxFrameBytes else {
            throw Failure(description: "the worker sent a frame of \(length) bytes (at most \(Self.maxFrameBytes))")
        }
        return try read(count: Int(length))
    }

    private func read(count: Int) throws -> Data {
        var data = Data(count: count)
        var offset = 0
        try data.withUnsafeMutableBytes { raw in
            while offset < count {
                let got = Glibc.read(replies, raw.baseAddress! + offset, count - offset)
                if got < 0 {
                    if errno == EINTR { continue }
                    throw Failure(description: "reading the worker's reply failed (\(String(cString: strerror(errno))))")
                }
                if got == 0 { throw Failure(description: "the worker exited") }
                offset += got
            }
        }
        return data
    }

    /// Whether `kill()` was called (a deadline passed, or the worker is being replaced).
    var wasKilled: Bool { lock.withLock { killed } }

    /// Kills the worker's whole process group (bubblewrap's PID namespace takes its children along; in
    /// rlimits-only mode the group does).
    func kill() {
        let first = lock.withLock { () -> Bool in
            defer { killed = true }
            return !killed
        }
        guard first else { return }
        _ = Glibc.kill(-pid, SIGKILL)
        _ = Glibc.kill(pid, SIGKILL)
    }

    /// Closes the pipes and collects the exit status, killing the worker when it does not exit in time.
    /// Blocks up to `grace` seconds: call it off the cooperative pool.
    private func close(grace: Double) -> Int32 {
        Glibc.close(requests)
        let deadline = Date().addingTimeInterval(grace)
        var status: Int32 = 0
        while true {
            let done = waitpid(pid, &status, WNOHANG)
            if done == pid || done < 0 { break }
            if Date() >= deadline {
                kill()
                _ = waitpid(pid, &status, 0)
                break
            }
            usleep(10_000)
        }
        Glibc.close(replies)
        return status
    }

    /// Asks politely (stdin closed means exit 0), then kills; on the worker's queue, after any exchange
    /// still in progress (kill first to end one at once).
    func shutdown(grace: Double = 1) async -> Int32 {
        await withCheckedContinuation { continuation in
            queue.async { continuation.resume(returning: self.close(grace: grace)) }
        }
    }
}
