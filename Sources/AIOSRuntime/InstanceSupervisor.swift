import Foundation

/// How to run one instance: its command, directory, environment and log file. `AIOS_LISTEN` is added per
/// start, with a free loopback port.
public struct InstanceLaunch: Sendable {
    public var blockId: String
    public var instanceId: String
    public var command: [String]
    public var cwd: String
    public var environment: [String: String]
    public var logPath: String
    public var host: String
    /// Run after each exit of the instance's process, before it restarts or the supervisor stops (a
    /// container engine's client may leave its container behind when it is killed: this removes it).
    public var afterExit: [String]?
    /// Where each spawn is recorded: its intent (with the marker the process carries) before the spawn, its
    /// pid and start time after. A restart after a crash stops whatever the file names.
    public var runFile: RunFile?

    public init(blockId: String, instanceId: String, command: [String], cwd: String, environment: [String: String], logPath: String,
                host: String = "127.0.0.1", afterExit: [String]? = nil, runFile: RunFile? = nil) {
        self.blockId = blockId
        self.instanceId = instanceId
        self.command = command
        self.cwd = cwd
        self.environment = environment
        self.logPath = logPath
        self.host = host
        self.afterExit = afterExit
        self.runFile = runFile
    }
}

/// Restart and readiness rules for supervised instances.
public struct SupervisionPolicy: Sendable {
    /// How long a started instance has to answer `Health` before it is killed and restarted.
    public var startupTimeout: Double = 60
    public var initialBackoff: Double = 0.5
    public var maxBackoff: Double = 30
    /// This many exits within `crashLoopWindow` seconds is a crash loop.
    public var crashLoopExits: Int = 3
    public var crashLoopWindow: Double = 120
    /// An instance that had been ready this long when it exited was healthy (it was killed, or failed after
    /// serving): it restarts at once, and its exit counts neither towards backoff nor towards a crash loop.
    /// Only exits before readiness or within this time after it do.
    public var stableAfter: Double = 60
    /// SIGTERM, then SIGKILL after this many seconds.
    public var terminationGrace: Double = 10

    public init() {}
}

/// What happened to a supervised instance.
public enum InstanceEvent: Sendable {
    case started(process: ChildProcess, address: String)
    case ready(address: String)
    case exited(status: Int32, restarts: Int, restartIn: Double, crashLooping: Bool, logTail: [String])
    case startFailed(reason: String, restarts: Int, restartIn: Double, crashLooping: Bool)
    case stopped
}

/// Keeps one instance process running: starts it, reports it ready when its health probe answers,
/// restarts it with exponential backoff when it exits, and stops it (SIGTERM, then SIGKILL) on request.
public actor InstanceSupervisor {
    public let launch: InstanceLaunch
    private let policy: SupervisionPolicy
    private let probe: @Sendable (String) async -> Bool
    private let onEvent: @Sendable (InstanceEvent) async -> Void
    private var loop: Task<Void, Never>?
    private var current: ChildProcess?
    private var readyAt: Date?
    private var stopping = false

    public init(launch: InstanceLaunch, policy: SupervisionPolicy, probe: @escaping @Sendable (String) async -> Bool,
                onEvent: @escaping @Sendable (InstanceEvent) async -> Void) {
        self.launch = launch
        self.policy = policy
        self.probe = probe
        self.onEvent = onEvent
    }

    public func start() {
        guard loop == nil else { return }
        loop = Task { await self.run() }
    }

    /// The running process's id (its process group id too), if one is running.
    public var pid: Int32? { current?.pid }

    /// Replaces the running process (it stopped answering): SIGTERM, SIGKILL after the grace period; the
    /// supervision loop starts a new one as after any exit.
    public func restartProcess(reason: String) {
        guard !stopping, let process = current else { return }
        LogTail.append(launch.logPath, "aios: replacing the instance: \(reason)")
        process.signalGroup(SIGTERM)
        let grace = policy.terminationGrace
        Task {
            try? await Task.sleep(for: .seconds(grace))
            if ProcessTable.isAlive(pid: process.pid, startTime: process.startTime) { process.signalGroup(SIGKILL) }
        }
    }

    /// Stops the instance and waits until its process group is gone.
    public func stop() async {
        stopping = true
        if let process = current {
            process.signalGroup(SIGTERM)
            let deadline = Date().addingTimeInterval(policy.terminationGrace)
            while Date() < deadline && ProcessTable.isAlive(pid: process.pid, startTime: process.startTime) {
                try? await Task.sleep(for: .milliseconds(50))
            }
            process.signalGroup(SIGKILL)
        } else {
            loop?.cancel()
        }
        // A process stuck in the kernel (uninterruptible sleep) may outlive SIGKILL for a while: do not hang on it.
        if let loop {
            let finished = await Deadline.run(seconds: 5) { await loop.value; return true } ?? false
            if !finished, let process = current {
                LogTail.append(launch.logPath, "aios: pid \(process.pid) did not exit 5 s after SIGKILL; leaving it")
            }
        }
        loop = nil
        if current == nil { launch.runFile?.remove() }
        await onEvent(.stopped)
    }

    private func run() async {
        var exits: [Date] = []
        var backoff = policy.initialBackoff
        var restarts = 0
        while !stopping && !Task.isCancelled {
            let outcome = await runOnce()
            guard !stopping else { break }
            restarts += 1
            // An instance that had been ready for a while was healthy: whatever ended it (a kill from outside,
            // a failure after serving), it comes back at once and its history starts over. Only exits before
            // or soon after readiness count towards backoff and a crash loop.
            if case .exited(let status) = outcome, let ready = readyAt, Date().timeIntervalSince(ready) >= policy.stableAfter {
                backoff = policy.initialBackoff
                exits.removeAll()
                await onEvent(.exited(status: status, restarts: restarts, restartIn: 0, crashLooping: false, logTail: LogTail.read(launch.logPath)))
                continue
            }
            exits.append(Date())
            exits.removeAll { Date().timeIntervalSince($0) > policy.crashLoopWindow }
            let crashLooping = exits.count >= policy.crashLoopExits
            switch outcome {
            case .exited(let status):
                await onEvent(.exited(status: status, restarts: restarts, restartIn: backoff, crashLooping: crashLooping, logTail: LogTail.read(launch.logPath)))
            case .failedToStart(let reason):
                await onEvent(.startFailed(reason: reason, restarts: restarts, restartIn: backoff, crashLooping: crashLooping))
            }
            do {
                try await Task.sleep(for: .seconds(backoff))
            } catch {
                break
            }
            backoff = min(backoff * 2, policy.maxBackoff)
        }
    }

    private enum Outcome {
        case exited(Int32)
        case failedToStart(String)
    }

    private func runOnce() async -> Outcome {
        readyAt = nil
        let port: Int
        let process: ChildProcess
        do {
            port = try FreePort.find(host: launch.host)
            var environment = launch.environment
            environment["AIOS_LISTEN"] = "\(launch.host):\(port)"
            // The intent first: a crash right after the spawn still leaves a record that finds the process.
            let marker = SpawnMarker.make()
            environment[SpawnMarker.variable] = marker
            try launch.runFile?.recordIntent(marker: marker, details: ["blockId": .string(launch.blockId), "instanceId": .string(launch.instanceId)])
            let spawned = try ProcessSpawner.spawn(launch.command, cwd: launch.cwd, environment: environment, logPath: launch.logPath)
            process = ChildProcess(pid: spawned.pid, startTime: spawned.startTime)
        } catch {
            return .failedToStart(String(describing: error))
        }
        do {
            try launch.runFile?.recordSpawned(process)
        } catch {
            LogTail.append(launch.logPath, "aios: cannot record pid \(process.pid) (\(error)); its spawn marker still finds it after a crash")
        }
        current = process
        let address = "\(launch.host):\(port)"
        await onEvent(.started(process: process, address: address))

        let exit = Task { await process.waitForExit() }
        let readiness = Task { [probe, policy] in
            let deadline = Date().addingTimeInterval(policy.startupTimeout)
            while !Task.isCancelled && Date() < deadline {
                // Each probe has a hard limit of its own: a connection attempt must not hold up the loop.
                if await Deadline.run(seconds: 3, { await probe(address) }) == true { return true }
                try? await Task.sleep(for: .milliseconds(100))
            }
            return false
        }
        // Whichever comes first: the probe answering, the startup deadline, or the process exiting.
        let ready: @Sendable () async -> Bool = { await readiness.value }
        let exited: @Sendable () async -> Bool = {
            _ = await exit.value
            return false
        }
        let becameReady = await Deadline.first([ready, exited])
        readiness.cancel()
        if becameReady, !stopping, ProcessTable.isAlive(pid: process.pid, startTime: process.startTime) {
            readyAt = Date()
            await onEvent(.ready(address: address))
        } else if !stopping, ProcessTable.isAlive(pid: process.pid, startTime: process.startTime) {
            LogTail.append(launch.logPath, "aios: instance did not answer Health within \(Int(policy.startupTimeout)) s; stopping it")
            process.signalGroup(SIGTERM)
            try? await Task.sleep(for: .seconds(min(policy.terminationGrace, 2)))
            process.signalGroup(SIGKILL)
        }
        let status = await exit.value
        if let cleanup = launch.afterExit {
            _ = await ProgramRun.run(command: cleanup, cwd: "/", environment: launch.environment, logPath: launch.logPath, timeout: 30) { _ in }
        }
        current = nil
        return .exited(status)
    }
}

/// The last lines of a log file, for crash reports.
public enum LogTail {
    public static func read(_ path: String, lines: Int = 10, bytes: Int = 8192) -> [String] {
        guard let handle = FileHandle(forReadingAtPath: path) else { return [] }
        defer { try? handle.close() }
        let size = (try? handle.seekToEnd()) ?? 0
        try? handle.seek(toOffset: size > UInt64(bytes) ? size - UInt64(bytes) : 0)
        let data = (try? handle.readToEnd()) ?? Data()
        let text = String(decoding: data, as: UTF8.self)
        return Array(text.split(whereSeparator: \.isNewline).suffix(lines).map(String.init))
    }

    public static func append(_ path: String, _ line: String) {
        guard let handle = FileHandle(forWritingAtPath: path) else { return }
        defer { try? handle.close() }
        _ = try? handle.seekToEnd()
        try? handle.write(contentsOf: Data((line + "\n").utf8))
    }
}
