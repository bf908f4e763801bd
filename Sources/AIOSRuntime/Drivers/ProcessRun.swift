#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import AIOSModel
import Foundation

/// One run of a host process (an instance's program, or a container engine's client): spawned in a process
/// group of its own with `AIOS_LISTEN` on a free loopback port, recorded in its run file before and after the
/// spawn, and watched until it exits. After the exit, `afterExit` runs (a container engine's client may leave
/// its container behind when it is killed) and the run file goes.
public final class ProcessRun: InstanceRun {
    public let identity: RunIdentity
    public let address: String
    public let states: AsyncStream<InstanceState>
    private let process: ChildProcess
    private let logPath: String
    /// Ends with the exit status, once `afterExit` has run.
    private let ended: Task<Int32, Never>

    /// Spawns `command`. `name` is the container's name when the process is an engine's client.
    static func spawn(driver: String, command: [String], cwd: String, environment: [String: String], logPath: String,
                      host: String, runFile: RunFile?, key: InstanceKey, name: String? = nil,
                      afterExit: [String]? = nil) throws -> ProcessRun {
        let port = try FreePort.find(host: host)
        var environment = environment
        environment["AIOS_LISTEN"] = "\(host):\(port)"
        // The intent first: a crash right after the spawn still leaves a record that finds the process.
        let marker = SpawnMarker.make()
        environment[SpawnMarker.variable] = marker
        try runFile?.recordIntent(marker: marker, details: ["blockId": .string(key.blockId), "instanceId": .string(key.instanceId)])
        let spawned = try ProcessSpawner.spawn(command, cwd: cwd, environment: environment, logPath: logPath)
        let process = ChildProcess(pid: spawned.pid, startTime: spawned.startTime)
        do {
            try runFile?.recordSpawned(process)
        } catch {
            LogTail.append(logPath, "aios: cannot record pid \(process.pid) (\(error)); its spawn marker still finds it after a crash")
        }
        return ProcessRun(process: process, identity: RunIdentity(driver: driver, pid: process.pid, startTime: process.startTime, name: name),
                          address: "\(host):\(port)", logPath: logPath, cleanup: afterExit, cleanupEnvironment: environment, runFile: runFile)
    }

    private init(process: ChildProcess, identity: RunIdentity, address: String, logPath: String, cleanup: [String]?,
                 cleanupEnvironment: [String: String], runFile: RunFile?) {
        self.process = process
        self.identity = identity
        self.address = address
        self.logPath = logPath
        let (states, continuation) = AsyncStream.makeStream(of: InstanceState.self)
        self.states = states
        continuation.yield(.running(address: address))
        ended = Task.detached {
            let status = await process.waitForExit()
            if let cleanup {
                _ = await ProgramRun.run(command: cleanup, cwd: "/", environment: cleanupEnvironment, logPath: logPath, timeout: 30) { _ in }
            }
            runFile?.remove()
            continuation.yield(.exited(status: status))
            continuation.finish()
            return status
        }
    }

    public var isAlive: Bool { ProcessTable.isAlive(pid: process.pid, startTime: process.startTime) }

    public func terminate(grace: Double) {
        process.signalGroup(SIGTERM)
        let process = self.process
        Task {
            try? await Task.sleep(for: .seconds(grace))
            if ProcessTable.isAlive(pid: process.pid, startTime: process.startTime) { process.signalGroup(SIGKILL) }
        }
    }

    public func stop(grace: Double) async -> Bool {
        process.signalGroup(SIGTERM)
        let ended = self.ended
        if await Deadline.run(seconds: grace, { await ended.value }) != nil { return true }
        process.signalGroup(SIGKILL)
        // A process stuck in the kernel (uninterruptible sleep) may outlive SIGKILL for a while: do not hang on it.
        if await Deadline.run(seconds: 5, { await ended.value }) != nil { return true }
        LogTail.append(logPath, "aios: pid \(process.pid) did not exit 5 s after SIGKILL; leaving it")
        return false
    }
}
