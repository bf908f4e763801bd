import Foundation

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
    /// The driver started a run (not yet running): where it is, so a restarted platform finds it.
    case launched(identity: RunIdentity)
    case started(identity: RunIdentity, address: String)
    case ready(address: String)
    case exited(status: Int32, restarts: Int, restartIn: Double, crashLooping: Bool, logTail: [String])
    /// The driver lost track of the run (its node is gone, its pod was deleted): it is started again.
    case lost(reason: String, restarts: Int, restartIn: Double, crashLooping: Bool)
    case startFailed(reason: String, restarts: Int, restartIn: Double, crashLooping: Bool)
    /// The driver says why the run is not running yet (reported each time the reason changes).
    case waiting(reason: String)
    case stopped
}

/// Keeps one instance running through its cluster's driver: starts a run, reports it ready when its health
/// probe answers, starts another with exponential backoff when it ends, and stops it (graceful, then forced)
/// on request.
public actor InstanceSupervisor {
    public let launch: InstanceLaunch
    public nonisolated let driver: any InstanceDriver
    private let policy: SupervisionPolicy
    private let probe: @Sendable (String) async -> Bool
    private let onEvent: @Sendable (InstanceEvent) async -> Void
    private var loop: Task<Void, Never>?
    private var current: (any InstanceRun)?
    /// A run a restarted platform adopted: supervised first, instead of a fresh start.
    private var adopted: (any InstanceRun)?
    private var readyAt: Date?
    private var stopping = false

    public init(launch: InstanceLaunch, driver: any InstanceDriver, policy: SupervisionPolicy, adopting run: (any InstanceRun)? = nil,
                probe: @escaping @Sendable (String) async -> Bool, onEvent: @escaping @Sendable (InstanceEvent) async -> Void) {
        self.launch = launch
        self.driver = driver
        self.policy = policy
        self.adopted = run
        self.probe = probe
        self.onEvent = onEvent
    }

    public func start() {
        guard loop == nil else { return }
        loop = Task { await self.run() }
    }

    /// Where the current run runs, if one is running.
    public var identity: RunIdentity? { current?.identity }

    /// The running process's id (its process group id too), if the current run is a host process.
    public var pid: Int32? { current?.identity.pid }

    /// Replaces the current run (it stopped answering): graceful, then forced after the grace period; the
    /// supervision loop starts a new one as after any exit.
    public func restartProcess(reason: String) {
        guard !stopping, let run = current else { return }
        LogTail.append(launch.logPath, "aios: replacing the instance: \(reason)")
        run.terminate(grace: policy.terminationGrace)
    }

    /// Stops supervising and leaves the current run running (its driver keeps runs across restarts of `aios up`).
    public func detach() async {
        stopping = true
        current?.detach()
        loop?.cancel()
        if let loop {
            _ = await Deadline.run(seconds: 5) { await loop.value; return true }
        }
        loop = nil
    }

    /// Stops the instance and waits until its run is gone (bounded).
    public func stop() async {
        stopping = true
        if let run = current {
            _ = await run.stop(grace: policy.terminationGrace)
        } else {
            // A backoff ends at once; a start under way is stopped by the loop as soon as the driver returns it.
            loop?.cancel()
        }
        if let loop {
            _ = await Deadline.run(seconds: policy.terminationGrace + 5) { await loop.value; return true }
        }
        loop = nil
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
            if let ready = readyAt, Date().timeIntervalSince(ready) >= policy.stableAfter {
                backoff = policy.initialBackoff
                exits.removeAll()
                switch outcome {
                case .exited(let status):
                    await onEvent(.exited(status: status, restarts: restarts, restartIn: 0, crashLooping: false, logTail: LogTail.read(launch.logPath)))
                    continue
                case .lost(let reason):
                    await onEvent(.lost(reason: reason, restarts: restarts, restartIn: 0, crashLooping: false))
                    continue
                case .failedToStart:
                    break
                }
            }
            exits.append(Date())
            exits.removeAll { Date().timeIntervalSince($0) > policy.crashLoopWindow }
            let crashLooping = exits.count >= policy.crashLoopExits
            switch outcome {
            case .exited(let status):
                await onEvent(.exited(status: status, restarts: restarts, restartIn: backoff, crashLooping: crashLooping, logTail: LogTail.read(launch.logPath)))
            case .lost(let reason):
                await onEvent(.lost(reason: reason, restarts: restarts, restartIn: backoff, crashLooping: crashLooping))
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
        case lost(String)
        case failedToStart(String)
    }

    private func runOnce() async -> Outcome {
        readyAt = nil
        let run: any InstanceRun
        if let adopted {
            run = adopted
            self.adopted = nil
        } else {
            do {
                run = try await driver.start(launch)
            } catch {
                return .failedToStart(String(describing: error))
            }
        }
        // Stopped while the driver was starting it (the start suspends): it must not outlive the supervisor.
        guard !stopping else {
            // `stop()` may have cancelled this loop: the stop runs in a task of its own, so the wait for the
            // exit is not cut short by that cancellation (the run would outlive the supervisor for a moment).
            let grace = policy.terminationGrace
            _ = await Task { await run.stop(grace: grace) }.value
            return .lost("stopped while it was starting")
        }
        current = run
        defer { current = nil }
        // Recorded now, not only once it runs: a pod still pulling its image when the platform restarts is adopted.
        await onEvent(.launched(identity: run.identity))
        // One reader of the run's states: the address once it runs, then how it ended.
        let (running, runningContinuation) = AsyncStream.makeStream(of: String.self)
        let ending = Task { () -> Outcome in
            defer { runningContinuation.finish() }
            for await state in run.states {
                switch state {
                case .starting: continue
                case .waiting(let reason): await onEvent(.waiting(reason: reason))
                case .running(let address): runningContinuation.yield(address)
                case .exited(let status): return .exited(status)
                case .lost(let reason): return .lost(reason)
                }
            }
            return .lost("the driver stopped reporting on the run")
        }
        var addresses = running.makeAsyncIterator()
        guard let address = await addresses.next() else { return await ending.value }
        await onEvent(.started(identity: run.identity, address: address))

        // Whichever comes first: the probe answering, the startup deadline, or the run ending.
        let readiness = Task { [probe, policy] in
            let deadline = Date().addingTimeInterval(policy.startupTimeout)
            while !Task.isCancelled && Date() < deadline {
                // Each probe has a hard limit of its own: a connection attempt must not hold up the loop.
                if await Deadline.run(seconds: 3, { await probe(address) }) == true { return true }
                try? await Task.sleep(for: .milliseconds(100))
            }
            return false
        }
        let ready: @Sendable () async -> Bool = { await readiness.value }
        let ended: @Sendable () async -> Bool = {
            _ = await ending.value
            return false
        }
        let becameReady = await Deadline.first([ready, ended])
        readiness.cancel()
        if becameReady, !stopping, run.isAlive {
            readyAt = Date()
            await onEvent(.ready(address: address))
        } else if !stopping, run.isAlive {
            LogTail.append(launch.logPath, "aios: instance did not answer Health within \(Int(policy.startupTimeout)) s; stopping it")
            run.terminate(grace: min(policy.terminationGrace, 2))
        }
        return await ending.value
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
