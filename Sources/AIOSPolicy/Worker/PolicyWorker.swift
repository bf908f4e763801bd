import AIOSModel
import Foundation

/// One long-lived, sandboxed worker running one policy for one owner (a block, or a vDAG node). Calls are
/// one at a time, each with a deadline; a worker that misses one, dies or breaks the protocol is killed and
/// started again (with backoff after repeated failures), and the caller gets a `PolicyFailure` so the
/// built-in decides. The started policy is kept between calls: the import and constructor run once.
actor PolicyWorker {
    struct Launch: Sendable {
        var arguments: [String]
        var environment: [String: String]
        var directory: String
        var logPath: String
    }

    /// At most this many calls wait for a busy worker; more are refused at once (the built-in decides).
    static let maxWaiting = 64
    /// After this many failures in a row the policy is `Degraded`.
    static let degradedAfter = 3

    let launch: Launch
    let initRequest: [String: JSONValue]
    let deadlines: PolicyDeadlines
    private var process: PolicyWorkerProcess?
    private var starting: Task<Void, Never>?
    private var nextId = 0
    private var busy = false
    private var waiters: [CheckedContinuation<Void, Never>] = []
    private var retryAfter: ContinuousClock.Instant?
    private var stopped = false
    private(set) var health = PolicyWorkerHealth()

    init(launch: Launch, initRequest: [String: JSONValue], deadlines: PolicyDeadlines) {
        self.launch = launch
        self.initRequest = initRequest
        self.deadlines = deadlines
    }

    /// Starts the worker now, so the first call does not wait for the sandbox and the import.
    func warm() {
        startInBackground()
    }

    /// `eval(parameters, input, context)` of the policy, within `deadline`. A worker that is not running is
    /// started first (inline when `deadline` leaves time for it, else in the background and this call fails
    /// as `.unavailable`).
    func evaluate(_ input: JSONValue, context: JSONValue = .null, deadline: Duration) async -> Result<JSONValue, PolicyFailure> {
        await call(["op": "eval", "input": input, "context": context], deadline: deadline)
    }

    /// `management(action, data)` of the policy.
    func management(_ action: String, data: JSONValue, deadline: Duration) async -> Result<JSONValue, PolicyFailure> {
        await call(["op": "management", "action": .string(action), "data": data], deadline: deadline)
    }

    func call(_ request: [String: JSONValue], deadline: Duration) async -> Result<JSONValue, PolicyFailure> {
        guard !stopped else { return .failure(PolicyFailure(.unavailable, "the policy's worker is stopped")) }
        if busy {
            guard waiters.count < Self.maxWaiting else {
                return .failure(PolicyFailure(.unavailable, "\(Self.maxWaiting) calls are already waiting for the policy"))
            }
            await withCheckedContinuation { waiters.append($0) }
        }
        busy = true
        defer { release() }
        guard !stopped else { return .failure(PolicyFailure(.unavailable, "the policy's worker is stopped")) }
        if process == nil {
            if let retryAfter, ContinuousClock.now < retryAfter {
                return .failure(PolicyFailure(.unavailable, "restarting after failures; last: \(health.lastError ?? "-")"))
            }
            // A short call (a load balancer's) does not wait for a start: the built-in decides meanwhile.
            if deadline < .seconds(1) {
                startInBackground()
                return .failure(PolicyFailure(.unavailable, "the policy's worker is starting"))
            }
            if let failure = await start() { return .failure(failure) }
        }
        guard let process else { return .failure(PolicyFailure(.unavailable, "the policy's worker is not running")) }
        health.calls += 1
        let result = await exchange(request, with: process, deadline: deadline)
        switch result {
        case .success:
            health.succeeded()
        case .failure(let failure):
            record(failure)
        }
        return result
    }

    /// Sends `request` and reads its reply. A missed deadline, a dead worker or a broken frame ends the
    /// worker (a late reply must never answer a later request).
    private func exchange(_ request: [String: JSONValue], with process: PolicyWorkerProcess, deadline: Duration) async -> Result<JSONValue, PolicyFailure> {
        nextId += 1
        let id = nextId
        var request = request
        request["id"] = .number(Double(id))
        let frame = JSONValue.object(request).compactJSONData()
        guard frame.count <= PolicyWorkerProcess.maxFrameBytes else {
            return .failure(PolicyFailure(.error, "the input is \(frame.count) bytes; a worker accepts at most \(PolicyWorkerProcess.maxFrameBytes)"))
        }
        let timer = Task {
            try? await Task.sleep(for: deadline)
            if !Task.isCancelled { process.kill() }
        }
        let reply: Data
        do {
            reply = try await process.roundTrip(frame)
            timer.cancel()
        } catch {
            timer.cancel()
            let missed = process.wasKilled
            await retire(process)
            return .failure(missed ? PolicyFailure(.deadline, "no answer within \(deadline.milliseconds) ms; the worker was killed and will be restarted")
                                   : PolicyFailure(.died, "\(error); \(Self.exitTail(logPath: launch.logPath))"))
        }
        guard let answer = JSONValue.decodeJSON(reply), answer["id"]?.intValue == id || answer["id"]?.isNull == true else {
            await retire(process)
            return .failure(PolicyFailure(.died, "the worker answered out of protocol"))
        }
        if answer["ok"]?.boolValue == true { return .success(answer["result"] ?? .null) }
        let message = answer["error"]?.stringValue ?? "unknown error"
        switch answer["kind"]?.stringValue {
        case "import", "init":
            await retire(process)
            return .failure(PolicyFailure(.start, message))
        case "protocol" where answer["id"]?.isNull == true:
            await retire(process)
            return .failure(PolicyFailure(.died, "protocol error: \(message)"))
        case "encode":
            return .failure(PolicyFailure(.error, "the result is not JSON: \(message)"))
        default:
            return .failure(PolicyFailure(.error, message))
        }
    }

    /// Spawns the sandbox and constructs the policy (`init`), within the start deadline.
    private func start() async -> PolicyFailure? {
        let started: PolicyWorkerProcess
        do {
            try? FileManager.default.createDirectory(atPath: launch.directory, withIntermediateDirectories: true)
            Self.trimLog(launch.logPath)
            started = try PolicyWorkerProcess.start(launch.arguments, environment: launch.environment, directory: launch.directory, logPath: launch.logPath)
        } catch {
            let failure = PolicyFailure(.start, "\(error)")
            record(failure)
            return failure
        }
        health.starts += 1
        switch await exchange(initRequest.merging(["op": "init"]) { $1 }, with: started, deadline: deadlines.start) {
        case .success:
            guard !stopped else {
                // Stopped while it started: it must not outlive its owner.
                await retire(started)
                return PolicyFailure(.unavailable, "the policy's worker is stopped")
            }
            process = started
            health.started()
            return nil
        case .failure(var failure):
            if failure.reason != .start { failure = PolicyFailure(.start, "the policy did not start: \(failure.message)") }
            await retire(started)
            record(failure)
            return failure
        }
    }

    private func startInBackground() {
        guard process == nil, starting == nil, !stopped else { return }
        starting = Task {
            if busy { await withCheckedContinuation { waiters.append($0) } }
            busy = true
            if process == nil, !stopped { _ = await start() }
            starting = nil
            release()
        }
    }

    private func release() {
        if waiters.isEmpty {
            busy = false
        } else {
            waiters.removeFirst().resume()
        }
    }

    private func retire(_ old: PolicyWorkerProcess) async {
        old.kill()
        _ = await old.shutdown(grace: 0)
        if process === old { process = nil }
    }

    private func record(_ failure: PolicyFailure) {
        health.failed(failure)
        if process == nil {
            let n = health.consecutiveFailures
            retryAfter = n <= 1 ? nil : ContinuousClock.now + .milliseconds(min(30_000, 250 << min(n - 2, 7)))
        }
    }

    /// A result the caller could not use: counted like an error of the policy.
    func rejected(_ failure: PolicyFailure) {
        health.failed(failure)
    }

    /// Stops the worker for good (its owner is gone, or the platform stops).
    func stop() async {
        stopped = true
        starting?.cancel()
        if let process {
            self.process = nil
            _ = await process.shutdown(grace: 1)
        }
        health.state = .stopped
    }

    /// The last lines the worker wrote to standard error (why it died, often).
    static func exitTail(logPath: String) -> String {
        guard let handle = FileHandle(forReadingAtPath: logPath) else { return "no log" }
        defer { try? handle.close() }
        let size = (try? handle.seekToEnd()) ?? 0
        try? handle.seek(toOffset: size > 2000 ? size - 2000 : 0)
        let text = String(decoding: handle.readDataToEndOfFile(), as: UTF8.self)
        let lines = text.split(whereSeparator: \.isNewline).suffix(3).joined(separator: " | ")
        return lines.isEmpty ? "nothing in its log" : "its log ends: \(lines)"
    }

    /// Keeps a worker's log bounded across restarts: over 8 MiB it starts again (the old one kept as `.1`).
    static func trimLog(_ path: String) {
        guard let size = (try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int, size > 8 * 1024 * 1024 else { return }
        _ = rename(path, path + ".1")
    }
}

/// How a worker has been doing: what `GET /api/policies` shows, and what marks a policy `Degraded`.
public struct PolicyWorkerHealth: Sendable, Equatable {
    public enum State: String, Sendable {
        case idle = "Idle", ready = "Ready", degraded = "Degraded", stopped = "Stopped"
    }

    public var state: State = .idle
    public var calls = 0
    public var failures = 0
    public var consecutiveFailures = 0
    public var starts = 0
    public var lastError: String?

    mutating func succeeded() {
        consecutiveFailures = 0
        state = .ready
    }

    mutating func started() {
        if state != .degraded { state = .ready }
    }

    mutating func failed(_ failure: PolicyFailure) {
        failures += 1
        consecutiveFailures += 1
        lastError = failure.description
        if consecutiveFailures >= PolicyWorker.degradedAfter { state = .degraded }
    }
}

extension Duration {
    var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
