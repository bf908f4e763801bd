import AIOSModel
import Foundation
import Logging

/// The registered custom policies and their workers: the one place policy points ask "does a custom policy
/// decide this, and what did it say?". A rule whose URI is not registered is the built-in's (`.builtIn`);
/// a registered one runs in its owner's sandboxed worker (one per policy, owner and values), and a failure
/// of any kind comes back as `.failed` for the caller to fall back on, after it is counted against the policy
/// and (throttled) written to the owner's events.
public actor CustomPolicies {
    /// A registered policy: its definition and its archive.
    public struct Registered: Sendable, Equatable {
        public var definition: PolicyDefinition
        public var archive: PolicyArchive

        public init(definition: PolicyDefinition, archive: PolicyArchive) {
            self.definition = definition
            self.archive = archive
        }
    }

    public enum Outcome: Sendable {
        /// Not a registered policy: the built-in decides (and says so once, at block creation).
        case builtIn
        case decided(JSONValue)
        case failed(PolicyFailure)
    }

    /// Writes an event of a block (or of the block a vDAG node routes to).
    public typealias EventSink = @Sendable (_ owner: String, _ event: BlockEvent) async -> Void

    public let configuration: PolicyHost.Configuration
    public let deadlines: PolicyDeadlines
    private let logger: Logger
    private var registered: [String: Registered] = [:]
    private var workers: [WorkerKey: PolicyWorker] = [:]
    private var preparing: Task<Result<PolicyHost, PolicyHost.Unavailable>, Never>?
    private var eventSink: EventSink?
    private var throttle = EventThrottle()

    struct WorkerKey: Hashable {
        var uri: String
        var owner: String
        var values: JSONValue
    }

    public init(configuration: PolicyHost.Configuration, deadlines: PolicyDeadlines = PolicyDeadlines(), logger: Logger) {
        self.configuration = configuration
        self.deadlines = deadlines
        self.logger = logger
    }

    public func setEventSink(_ sink: @escaping EventSink) {
        eventSink = sink
    }

    // MARK: Host

    /// The prepared host (SDK staged, sandbox probed), or why custom policies cannot run here.
    public func host() async -> Result<PolicyHost, PolicyHost.Unavailable> {
        if preparing == nil {
            let configuration = configuration
            let logger = logger
            preparing = Task {
                do {
                    return .success(try await PolicyHost.prepare(configuration, logger: logger))
                } catch let error as PolicyHost.Unavailable {
                    logger.warning("custom policies are unavailable", metadata: ["reason": "\(error.description)"])
                    return .failure(error)
                } catch {
                    return .failure(PolicyHost.Unavailable(description: "cannot prepare the policy runtime: \(error)"))
                }
            }
        }
        return await preparing!.value
    }

    // MARK: Registry

    public func load(_ policies: [Registered]) {
        for policy in policies { registered[policy.definition.uri] = policy }
    }

    public func register(_ policy: Registered) async {
        let uri = policy.definition.uri
        let replaced = registered[uri] != nil && registered[uri] != policy
        registered[uri] = policy
        if replaced { await stopWorkers { $0.uri == uri } }
    }

    public func unregister(uri: String) async {
        registered[uri] = nil
        await stopWorkers { $0.uri == uri }
    }

    public func policy(uri: String) -> Registered? {
        registered[uri]
    }

    public func isRegistered(_ uri: String?) -> Bool {
        uri.map { registered[$0] != nil } ?? false
    }

    /// The health of a policy's workers: `Degraded` when any is, `Ready` when any ran, else `Idle`.
    public func status(uri: String) async -> (state: PolicyWorkerHealth.State, workers: Int, calls: Int, failures: Int, lastError: String?) {
        var state = PolicyWorkerHealth.State.idle
        var calls = 0, failures = 0, count = 0
        var lastError: String?
        for (key, worker) in workers where key.uri == uri {
            let health = await worker.health
            count += 1
            calls += health.calls
            failures += health.failures
            if health.lastError != nil { lastError = health.lastError }
            if health.state == .degraded { state = .degraded } else if health.state == .ready, state != .degraded { state = .ready }
        }
        return (state, count, calls, failures, lastError)
    }

    // MARK: Calls

    /// Asks the custom policy of `rule` (when its URI is registered) for `eval(parameters, input, context)`,
    /// in `owner`'s worker, within the kind's deadline.
    public func evaluate(_ rule: PolicyRule?, owner: String, input: JSONValue, context: JSONValue = .null) async -> Outcome {
        guard let rule, let uri = rule.uri, let policy = registered[uri] else { return .builtIn }
        let found: PolicyWorker
        switch await worker(for: policy, rule: rule, owner: owner) {
        case .success(let worker): found = worker
        case .failure(let failure): return .failed(failure)
        }
        switch await found.evaluate(input, context: context, deadline: deadlines.call(rule.kind)) {
        case .success(let result): return .decided(result)
        case .failure(let failure): return .failed(failure)
        }
    }

    /// Starts `owner`'s worker for `rule` ahead of its first call (load balancers, whose calls are short).
    public func warm(_ rule: PolicyRule?, owner: String) async {
        guard let rule, let uri = rule.uri, let policy = registered[uri] else { return }
        if case .success(let worker) = await worker(for: policy, rule: rule, owner: owner) { await worker.warm() }
    }

    /// A result that had the wrong shape or named what cannot be: counted against the policy like an error.
    public func rejectOutput(_ rule: PolicyRule, owner: String, _ failure: PolicyFailure) async {
        guard let uri = rule.uri, let worker = workers[WorkerKey(uri: uri, owner: owner, values: Self.values(rule))] else { return }
        await worker.rejected(failure)
    }

    /// Stops every worker of `owner` (its block was removed).
    public func release(owner: String) async {
        await stopWorkers { $0.owner == owner }
    }

    /// Stops every worker (the platform stops), and removes a runtime directory kept outside the data dir.
    public func shutdown() async {
        await stopWorkers { _ in true }
        if let preparing, case .success(let host) = await preparing.value, host.runtimeIsOutsideDataDirectory {
            try? FileManager.default.removeItem(at: host.runtimeDirectory)
        }
    }

    /// Prepares the host now when policies are registered, so `aios up` says at once whether they can run.
    public func prepareIfNeeded() {
        guard !registered.isEmpty else { return }
        Task { _ = await self.host() }
    }

    // MARK: Events

    /// Writes `event` for `owner`, at most one per owner, kind and type every `EventThrottle.window`; the
    /// next one says how many were left out.
    public func report(owner: String, kind: PolicyKind, type: BlockEventType, _ message: String) async {
        guard let skipped = throttle.admit("\(owner)|\(kind.rawValue)|\(type.rawValue)") else { return }
        let suffix = skipped > 0 ? " (\(skipped) more like it since the last event)" : ""
        if type == .policyFallback {
            logger.info("custom policy failed; the built-in decides", metadata: ["owner": "\(owner)", "kind": "\(kind.rawValue)", "what": "\(message + suffix)"])
        }
        await eventSink?(owner, BlockEvent(type: type, message: message + suffix))
    }

    /// Reports a fallback: the policy, why, and that the built-in decided.
    public func reportFallback(_ rule: PolicyRule, owner: String, _ failure: PolicyFailure, builtIn: String) async {
        if failure.reason == .output { await rejectOutput(rule, owner: owner, failure) }
        await report(owner: owner, kind: rule.kind, type: .policyFallback,
                     "\(rule.kind.rawValue) policy \(rule.uri ?? "-") failed (\(failure)); built-in \(builtIn) decided")
    }

    // MARK: Workers

    private func worker(for policy: Registered, rule: PolicyRule, owner: String) async -> Result<PolicyWorker, PolicyFailure> {
        let key = WorkerKey(uri: policy.definition.uri, owner: owner, values: Self.values(rule))
        if let worker = workers[key] { return .success(worker) }
        let host: PolicyHost
        switch await self.host() {
        case .success(let prepared): host = prepared
        case .failure(let unavailable): return .failure(PolicyFailure(.start, unavailable.description))
        }
        // Replaced values (a parameter update) get a fresh worker; the old one stops.
        await stopWorkers { $0.uri == key.uri && $0.owner == owner }
        if !FileManager.default.fileExists(atPath: host.codeDirectory(digest: policy.archive.digest).path)
            || (policy.archive.hasRequirements && !FileManager.default.fileExists(atPath: host.venvDirectory(digest: policy.archive.digest).appendingPathComponent(".complete").path)) {
            do {
                try await PolicyArchives(host: host).prepare(digest: policy.archive.digest)
            } catch {
                return .failure(PolicyFailure(.start, "cannot prepare the policy's code: \(error)"))
            }
        }
        let command = host.workerCommand(digest: policy.archive.digest, hasVenv: policy.archive.hasRequirements)
        let logName = Self.fileName(policy.definition.uri + "--" + owner)
        let scratch = host.runtimeDirectory.appendingPathComponent("scratch/\(logName)").path
        let initRequest: [String: JSONValue] = [
            "rule_id": .string(policy.definition.uri), "settings": .object(rule.settings), "parameters": .object(rule.parameters),
            "defaults": ["settings": .object(policy.definition.settings), "parameters": .object(policy.definition.parameters)],
        ]
        let worker = PolicyWorker(
            launch: .init(arguments: command.arguments, environment: command.environment, directory: scratch,
                          logPath: host.logsDirectory.appendingPathComponent(logName + ".log").path),
            initRequest: initRequest, deadlines: deadlines)
        workers[key] = worker
        return .success(worker)
    }

    private func stopWorkers(_ matching: (WorkerKey) -> Bool) async {
        let stopping = workers.filter { matching($0.key) }
        for key in stopping.keys { workers[key] = nil }
        for worker in stopping.values { await worker.stop() }
    }

    /// A file name for `text`: safe characters only, and short (a long one keeps its start and a hash of the whole).
    static func fileName(_ text: String) -> String {
        let safe = String(text.map { $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) ? $0 : "_" })
        guard safe.count > 120 else { return safe }
        let hash = text.utf8.reduce(UInt64(1469598103934665603)) { ($0 ^ UInt64($1)) &* 1099511628211 }
        return safe.prefix(100) + "-" + String(hash, radix: 16)
    }

    static func values(_ rule: PolicyRule) -> JSONValue {
        ["settings": .object(rule.settings), "parameters": .object(rule.parameters)]
    }
}

/// At most one event per key every `window`, counting the ones left out. Bounded: old keys are dropped.
struct EventThrottle {
    static let window: TimeInterval = 10
    static let maxKeys = 10_000
    private var last: [String: (time: Date, skipped: Int)] = [:]

    /// `nil` when the event is to be left out; else how many were left out before it.
    mutating func admit(_ key: String, now: Date = Date()) -> Int? {
        if let seen = last[key], now.timeIntervalSince(seen.time) < Self.window {
            last[key]!.skipped += 1
            return nil
        }
        if last.count >= Self.maxKeys { last = last.filter { now.timeIntervalSince($0.value.time) < Self.window } }
        let skipped = last[key]?.skipped ?? 0
        last[key] = (now, 0)
        return skipped
    }
}
