import AIOSWire
import Foundation
import GRPCCore
import Synchronization

/// One block's executor: the live set of its ready instances, the load balancer that picks among them,
/// per-instance in-flight limits with a bounded queue, deadlines, and one retry on another instance when
/// an instance dies or refuses the connection before answering.
///
/// Routing is synchronous under one lock (no actor hop per request); only a request that must wait for an
/// instance suspends.
public final class BlockExecutor: Sendable {
    public let blockId: String
    /// How the executor reaches its instances.
    public let transport: any InstanceTransport
    private let state: Mutex<State>

    /// How long an instance that failed a request at the transport level is skipped, until its supervisor
    /// reports it gone or it answers again.
    static let suspectFor: Duration = .seconds(1)

    struct Slot {
        let connection: InstanceConnection
        var inFlight = 0
        var suspectUntil: ContinuousClock.Instant?
        /// Being scaled down: no new requests; the ones in flight finish.
        var draining = false
        /// Why the instance reports itself unhealthy in its `Health` answer (e.g. the system it links to is
        /// unreachable): no requests go to it until it reports healthy again.
        var unhealthy: String?
        var stats = RequestStats()
    }

    enum Grant: Sendable {
        case go(InstanceConnection)
        case repick
        case fail(InferenceError)
    }

    struct Waiter {
        let id: Int
        let target: String
        /// Bound to `target` by session affinity: only a slot there will do.
        let sticky: Bool
        let excluding: Set<String>
        let continuation: CheckedContinuation<Grant, Never>
        let timer: Task<Void, Never>
    }

    /// A `drain` waiting for the requests in flight on `instanceId` to finish.
    struct DrainWaiter {
        let id: Int
        let instanceId: String
        let continuation: CheckedContinuation<Void, Never>
        let timer: Task<Void, Never>
    }

    struct State {
        var settings: ExecutorSettings
        var balancer: any LoadBalancer
        /// A custom load-balancing policy, asked before the balancer (which decides when it does not).
        var chooser: (any InstanceChooser)?
        var order: [String] = []
        var slots: [String: Slot] = [:]
        var waiters: [Waiter] = []
        var drainWaiters: [DrainWaiter] = []
        var nextWaiterId = 0
        var closed: InferenceError?
        var served = 0
        var retried = 0
        var stats = RequestStats()
        /// Stats of instances that left, kept so a returning instance id continues its series.
        var pastStats: [String: RequestStats] = [:]
    }

    /// An executor whose instances are reached over `transport` (gRPC unless a test says otherwise).
    public init(blockId: String, settings: ExecutorSettings, transport: any InstanceTransport = GRPCInstanceTransport()) {
        self.blockId = blockId
        self.transport = transport
        self.state = Mutex(State(settings: settings, balancer: settings.makeBalancer()))
    }

    public var settings: ExecutorSettings { state.withLock { $0.settings } }

    /// The ids of the instances requests go to, in the order they joined.
    public var instanceIds: [String] { state.withLock { $0.order } }

    // MARK: Membership

    /// Applies new settings; a different balancing policy starts with a fresh balancer.
    public func update(settings: ExecutorSettings) {
        let woken = state.withLock { state -> [Waiter] in
            if state.settings.balancing != settings.balancing { state.balancer = settings.makeBalancer() }
            state.settings = settings
            // New limits may let queued requests in.
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in woken { waiter.timer.cancel(); waiter.continuation.resume(returning: .repick) }
    }

    /// Installs (or removes, with `nil`) the custom policy that picks instances before the built-in balancer.
    public func setChooser(_ chooser: (any InstanceChooser)?) {
        state.withLock { $0.chooser = chooser }
    }

    /// Drops the request stats of an instance that left the block for good (scaled down).
    public func forget(_ instanceId: String) {
        state.withLock { _ = $0.pastStats.removeValue(forKey: instanceId) }
    }

    /// `instanceId` answers `Health` at `address`: route to it.
    public func instanceReady(_ instanceId: String, address: String) throws {
        let connection = try InstanceConnection(instanceId: instanceId, address: address, transport: transport)
        let (replaced, woken, closed) = state.withLock { state -> (InstanceConnection?, [Waiter], Bool) in
            guard state.closed == nil else { return (nil, [], true) }
            let old = state.slots[instanceId]
            if old == nil { state.order.append(instanceId) }
            state.slots[instanceId] = Slot(connection: connection, inFlight: old?.inFlight ?? 0,
                                           stats: old?.stats ?? state.pastStats.removeValue(forKey: instanceId) ?? RequestStats())
            if old?.connection.address != address { state.balancer.instanceLeft(instanceId) }
            // Queued requests may now fit on the new instance.
            let woken = state.waiters
            state.waiters = []
            return (old?.connection, woken, false)
        }
        if closed {
            connection.close()
            return
        }
        if let replaced, replaced.address != address { replaced.close() }
        for waiter in woken { waiter.timer.cancel(); waiter.continuation.resume(returning: .repick) }
    }

    /// `instanceId` stopped or crashed: stop routing to it; its sessions move, requests queued for it pick again.
    public func instanceGone(_ instanceId: String) {
        let (connection, woken, drained) = state.withLock { state -> (InstanceConnection?, [Waiter], [DrainWaiter]) in
            guard let slot = state.slots.removeValue(forKey: instanceId) else { return (nil, [], []) }
            state.pastStats[instanceId] = slot.stats
            state.order.removeAll { $0 == instanceId }
            state.balancer.instanceLeft(instanceId)
            let woken = state.waiters.filter { $0.target == instanceId }
            state.waiters.removeAll { $0.target == instanceId }
            return (slot.connection, woken, Self.takeFinishedDrains(&state))
        }
        connection?.close()
        for waiter in woken { waiter.timer.cancel(); waiter.continuation.resume(returning: .repick) }
        Self.resume(drained)
    }

    /// The stability checker's verdict on an instance that answers `Health`: `reason` takes it out of
    /// rotation, `nil` puts it back. Returns whether that changed anything.
    @discardableResult
    public func setUnhealthy(_ instanceId: String, reason: String?) -> Bool {
        let (changed, woken) = state.withLock { state -> (Bool, [Waiter]) in
            guard state.slots[instanceId] != nil, (state.slots[instanceId]!.unhealthy == nil) != (reason == nil) else { return (false, []) }
            state.slots[instanceId]!.unhealthy = reason
            if reason != nil { state.balancer.instanceLeft(instanceId) }
            // Requests queued for it pick again; a healthy instance may take queued requests.
            let woken = reason == nil ? state.waiters : state.waiters.filter { $0.target == instanceId }
            state.waiters.removeAll { reason == nil || $0.target == instanceId }
            return (true, woken)
        }
        for waiter in woken { waiter.timer.cancel(); waiter.continuation.resume(returning: .repick) }
        return changed
    }

    /// The block is being removed: every queued request fails with `reason`, new ones too.
    public func close(reason: InferenceError) {
        let (connections, woken, drained) = state.withLock { state -> ([InstanceConnection], [Waiter], [DrainWaiter]) in
            state.closed = reason
            let connections = state.slots.values.map(\.connection)
            state.slots = [:]
            state.order = []
            let woken = state.waiters
            state.waiters = []
            return (connections, woken, Self.takeFinishedDrains(&state))
        }
        for connection in connections { connection.close() }
        for waiter in woken { waiter.timer.cancel(); waiter.continuation.resume(returning: .fail(reason)) }
        Self.resume(drained)
    }

    // MARK: Inference

    /// The request's deadline: the client's when it is shorter than the block's default.
    public func deadline(clientTimeout: Duration?) -> ContinuousClock.Instant {
        let blockTimeout = state.withLock { $0.settings.defaultTimeout }
        return .now + min(clientTimeout ?? blockTimeout, blockTimeout)
    }

    /// Runs `packet` on one instance and returns its outputs. An instance that is gone or refuses before
    /// answering gets the request retried once on another.
    public func infer(_ packet: AIOSPacket, headers: [String: String] = [:], deadline: ContinuousClock.Instant) async throws(InferenceError) -> [AIOSPacket] {
        try await withRetry(RequestView(packet: packet, headers: headers), deadline: deadline) { connection, timeout, _ in
            try await connection.channel.infer(packet, timeout: timeout)
        }
    }

    /// Runs `packet` with the instance's streaming `InferStream`, handing each reply's outputs to `onOutputs`
    /// as they arrive. A retry happens only while nothing has been handed on.
    public func inferStream(_ packet: AIOSPacket, headers: [String: String] = [:], deadline: ContinuousClock.Instant,
                            onOutputs: @escaping @Sendable ([AIOSPacket]) async throws -> Void) async throws(InferenceError) {
        try await withRetry(RequestView(packet: packet, headers: headers), deadline: deadline) { connection, timeout, started in
            try await connection.channel.inferStream(packet, timeout: timeout) { outputs in
                started.set()
                try await onOutputs(outputs)
            }
        }
    }

    /// Sets once the first output of a stream has been handed on (no retry after that).
    final class StartedFlag: Sendable {
        private let flag = Mutex(false)
        func set() { flag.withLock { $0 = true } }
        var isSet: Bool { flag.withLock { $0 } }
    }

    private func withRetry<T: Sendable>(
        _ request: RequestView, deadline: ContinuousClock.Instant,
        _ call: @Sendable (InstanceConnection, Duration, StartedFlag) async throws -> T
    ) async throws(InferenceError) -> T {
        var tried: Set<String> = []
        var lastFailure: InferenceError?
        for attempt in 0..<2 {
            let connection: InstanceConnection
            do throws(InferenceError) {
                let preferred = await choose(request, excluding: tried)
                connection = try await acquire(session: request.packet.sessionID, preferred: preferred, excluding: tried, deadline: deadline)
            } catch {
                if let lastFailure, error.code == .unavailable {
                    throw InferenceError(.unavailable, "\(lastFailure.message); no other instance of block \(blockId) is healthy to retry on")
                }
                throw error
            }
            let instanceId = connection.instanceId
            let remaining = ContinuousClock.now.duration(to: deadline)
            guard remaining > .zero else {
                release(instanceId)
                throw InferenceError(.deadlineExceeded, "block \(blockId): the deadline passed while the request waited for an instance")
            }
            let started = StartedFlag()
            let began = ContinuousClock.now
            do {
                let value = try await call(connection, remaining, started)
                release(instanceId, took: began.duration(to: ContinuousClock.now), failed: false)
                return value
            } catch let error as RPCError {
                release(instanceId, took: began.duration(to: ContinuousClock.now), failed: true)
                if error.code == .unavailable, attempt == 0, !started.isSet {
                    markSuspect(instanceId)
                    tried.insert(instanceId)
                    lastFailure = InferenceError(instance: instanceId, error)
                    state.withLock { $0.retried += 1 }
                    continue
                }
                if error.code == .deadlineExceeded || ContinuousClock.now >= deadline {
                    throw InferenceError(.deadlineExceeded, "block \(blockId) did not answer in time (instance \(instanceId))")
                }
                throw InferenceError(instance: instanceId, error)
            } catch let error as InferenceError {
                release(instanceId)
                throw error
            } catch {
                release(instanceId)
                if Task.isCancelled { throw InferenceError(.cancelled, "the client cancelled the request") }
                throw InferenceError(.internal, "block \(blockId), instance \(instanceId): \(error)")
            }
        }
        throw lastFailure ?? InferenceError(.unavailable, "block \(blockId) has no healthy instance")
    }

    // MARK: Slots

    /// A slot on the instance the balancer picks for `session`, waiting (bounded, until `deadline`) when
    /// that instance is at its in-flight limit.
    func acquire(session: String, preferred: String? = nil, excluding: Set<String>, deadline: ContinuousClock.Instant) async throws(InferenceError) -> InstanceConnection {
        while true {
            switch state.withLock({ Self.tryAcquire(&$0, blockId: blockId, session: session, preferred: preferred, excluding: excluding, queueAs: nil) }) {
            case .go(let connection): return connection
            case .fail(let error): throw error
            case .repick: break
            }
            // Must wait: check again and queue in one step, so a slot freed meanwhile is not missed. A client
            // that goes away (its task cancelled) leaves the queue at once; the deadline bounds the rest.
            let id = state.withLock { state in
                defer { state.nextWaiterId += 1 }
                return state.nextWaiterId
            }
            let grant: Grant = await withTaskCancellationHandler {
                await withCheckedContinuation { continuation in
                    let immediate: Grant? = state.withLock { state in
                        // Cancelled before the handler was installed: do not queue.
                        if Task.isCancelled { return .fail(InferenceError(.cancelled, "the client went away")) }
                        let timer = Task { [weak self] in
                            try? await Task.sleep(until: deadline, clock: .continuous)
                            guard !Task.isCancelled else { return }
                            self?.expire(waiter: id, InferenceError(.deadlineExceeded, "block \(self?.blockId ?? ""): the deadline passed while the request waited for a free instance"))
                        }
                        let queued = Self.tryAcquire(&state, blockId: blockId, session: session, preferred: preferred, excluding: excluding,
                                                     queueAs: (id, continuation, timer))
                        if case .repick = queued { return nil }
                        timer.cancel()
                        return queued
                    }
                    if let immediate { continuation.resume(returning: immediate) }
                }
            } onCancel: {
                expire(waiter: id, InferenceError(.cancelled, "the client went away while the request waited for an instance"))
            }
            switch grant {
            case .go(let connection): return connection
            case .fail(let error): throw error
            case .repick: continue
            }
        }
    }

    /// Picks an instance and takes a slot on it, or queues the waiter (returning `.repick` for "queued"),
    /// or fails. Without a waiter, a full instance returns `.repick` to ask the caller to queue.
    private static func tryAcquire(_ state: inout State, blockId: String, session: String, preferred: String?, excluding: Set<String>,
                                   queueAs waiter: (Int, CheckedContinuation<Grant, Never>, Task<Void, Never>)?) -> Grant {
        if let closed = state.closed { return .fail(closed) }
        let now = ContinuousClock.now
        let limit = state.settings.maxInFlightPerInstance
        var candidates: [Candidate] = []
        var suspects: [Candidate] = []
        candidates.reserveCapacity(state.order.count)
        var unhealthy: [(String, String)] = []
        for id in state.order where !excluding.contains(id) {
            guard let slot = state.slots[id], !slot.draining else { continue }
            if let reason = slot.unhealthy {
                unhealthy.append((id, reason))
                continue
            }
            let candidate = Candidate(instanceId: id, inFlight: slot.inFlight, hasCapacity: slot.inFlight < limit)
            if let until = slot.suspectUntil, until > now { suspects.append(candidate) } else { candidates.append(candidate) }
        }
        // Suspected instances are used only when nothing else is left.
        if candidates.isEmpty { candidates = suspects }
        guard !candidates.isEmpty else {
            if let (id, reason) = unhealthy.first {
                return .fail(InferenceError(.unavailable, "block \(blockId) has no healthy instance: \(unhealthy.count == 1 ? "its instance" : "all \(unhealthy.count) instances") report unhealthy (\(id): \(reason))"))
            }
            return .fail(InferenceError(.unavailable, "block \(blockId) has no healthy instance"))
        }
        let custom = preferred.flatMap { wanted in candidates.contains { $0.instanceId == wanted } ? wanted : nil }
        let chosen = custom ?? state.balancer.pick(session: session, from: candidates)
        if let slot = state.slots[chosen], slot.inFlight < limit {
            state.slots[chosen]!.inFlight += 1
            return .go(slot.connection)
        }
        guard state.waiters.count < state.settings.maxQueued else {
            return .fail(InferenceError(.resourceExhausted, "block \(blockId) is at capacity: \(state.order.count) instance(s) × \(limit) requests in flight and \(state.settings.maxQueued) queued; retry later or raise maxInstances"))
        }
        if let (id, continuation, timer) = waiter {
            state.waiters.append(Waiter(id: id, target: chosen, sticky: custom != nil || (!session.isEmpty && state.settings.balancing.isSessionAffine),
                                        excluding: excluding, continuation: continuation, timer: timer))
        }
        return .repick
    }

    /// The custom policy's choice among the instances a request may go to now (`nil`: the balancer picks).
    private func choose(_ request: RequestView, excluding: Set<String>) async -> String? {
        let (chooser, ready) = state.withLock { state -> ((any InstanceChooser)?, [String]) in
            guard let chooser = state.chooser else { return (nil, []) }
            return (chooser, state.order.filter { id in
                guard !excluding.contains(id), let slot = state.slots[id] else { return false }
                return !slot.draining && slot.unhealthy == nil
            })
        }
        guard let chooser, !ready.isEmpty else { return nil }
        return await chooser.choose(request, among: ready)
    }

    /// Takes a waiter out of the queue with `error` (its deadline passed, or its client went away).
    private func expire(waiter id: Int, _ error: InferenceError) {
        let waiter = state.withLock { state -> Waiter? in
            guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
            return state.waiters.remove(at: index)
        }
        waiter?.timer.cancel()
        waiter?.continuation.resume(returning: .fail(error))
    }

    /// Frees a slot; the first request queued for that instance takes it over directly. A finished call
    /// (`took`) counts in the instance's and the block's request stats.
    func release(_ instanceId: String, took: Duration? = nil, failed: Bool = false) {
        let now = Date().timeIntervalSince1970
        let (handOff, drained) = state.withLock { state -> ((Waiter, InstanceConnection)?, [DrainWaiter]) in
            if let took {
                let seconds = Double(took.components.seconds) + Double(took.components.attoseconds) / 1e18
                if !failed { state.served += 1 }
                state.stats.record(seconds: seconds, failed: failed, now: now)
                state.slots[instanceId]?.stats.record(seconds: seconds, failed: failed, now: now)
            }
            guard let slot = state.slots[instanceId] else { return (nil, []) }
            // The slot goes to the oldest request queued for this instance, else to the oldest one that is
            // not bound to another instance by its session (and may use this one), unless it is draining.
            if let index = state.waiters.firstIndex(where: { $0.target == instanceId })
                ?? (slot.draining || slot.unhealthy != nil ? nil : state.waiters.firstIndex(where: { !$0.sticky && !$0.excluding.contains(instanceId) })) {
                return ((state.waiters.remove(at: index), slot.connection), [])
            }
            state.slots[instanceId]!.inFlight -= 1
            return (nil, Self.takeFinishedDrains(&state))
        }
        if let (waiter, connection) = handOff {
            waiter.timer.cancel()
            waiter.continuation.resume(returning: .go(connection))
        }
        Self.resume(drained)
    }

    private func markSuspect(_ instanceId: String) {
        state.withLock { state in
            state.slots[instanceId]?.suspectUntil = .now + Self.suspectFor
        }
    }

    // MARK: Scaling

    /// Stops routing new requests to `instanceId` (queued ones pick again) and waits, up to `timeout`, for
    /// the ones in flight on it to finish. Returns how many were still in flight when it gave up.
    public func drain(_ instanceId: String, timeout: Duration) async -> Int {
        let woken = state.withLock { state -> [Waiter] in
            state.slots[instanceId]?.draining = true
            let woken = state.waiters.filter { $0.target == instanceId }
            state.waiters.removeAll { $0.target == instanceId }
            return woken
        }
        for waiter in woken { waiter.timer.cancel(); waiter.continuation.resume(returning: .repick) }
        // Woken by the release that leaves the instance idle (or by its leaving), by the timeout, or by the
        // caller's cancellation, whichever comes first.
        let deadline = ContinuousClock.now + timeout
        let id = state.withLock { state in
            defer { state.nextWaiterId += 1 }
            return state.nextWaiterId
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                // Checked and queued in one step, so a release in between is not missed.
                let done = state.withLock { state -> Bool in
                    if Task.isCancelled || (state.slots[instanceId]?.inFlight ?? 0) == 0 { return true }
                    let timer = Task { [weak self] in
                        try? await Task.sleep(until: deadline, clock: .continuous)
                        guard !Task.isCancelled else { return }
                        self?.endDrainWait(id)
                    }
                    state.drainWaiters.append(DrainWaiter(id: id, instanceId: instanceId, continuation: continuation, timer: timer))
                    return false
                }
                if done { continuation.resume() }
            }
        } onCancel: {
            endDrainWait(id)
        }
        return state.withLock { $0.slots[instanceId]?.inFlight ?? 0 }
    }

    /// Ends one `drain`'s wait (its timeout passed, or its caller was cancelled).
    private func endDrainWait(_ id: Int) {
        let waiter = state.withLock { state -> DrainWaiter? in
            guard let index = state.drainWaiters.firstIndex(where: { $0.id == id }) else { return nil }
            return state.drainWaiters.remove(at: index)
        }
        waiter?.timer.cancel()
        waiter?.continuation.resume()
    }

    /// Takes out the drains whose instance has nothing in flight any more (or has left); resume them after
    /// the lock is released.
    private static func takeFinishedDrains(_ state: inout State) -> [DrainWaiter] {
        guard !state.drainWaiters.isEmpty else { return [] }
        var finished: [DrainWaiter] = []
        state.drainWaiters.removeAll { waiter in
            guard (state.slots[waiter.instanceId]?.inFlight ?? 0) == 0 else { return false }
            finished.append(waiter)
            return true
        }
        return finished
    }

    private static func resume(_ drains: [DrainWaiter]) {
        for waiter in drains {
            waiter.timer.cancel()
            waiter.continuation.resume()
        }
    }

    /// Load of one instance, or of the whole block, for metrics and scaling decisions.
    public struct Load: Sendable {
        public var inFlight: Int
        public var queued: Int
        public var oneMinute: RequestStats.Summary
        public var fiveMinutes: RequestStats.Summary
        public var fifteenMinutes: RequestStats.Summary
        public var total: Int
        public var totalErrors: Int
    }

    public struct Metrics: Sendable {
        public var block: Load
        public var instances: [String: Load]
        public var retried: Int
    }

    public func metrics() -> Metrics {
        let now = Date().timeIntervalSince1970
        return state.withLock { state in
            func load(_ stats: RequestStats, inFlight: Int, queued: Int) -> Load {
                Load(inFlight: inFlight, queued: queued,
                     oneMinute: stats.summary(window: 60, now: now), fiveMinutes: stats.summary(window: 300, now: now),
                     fifteenMinutes: stats.summary(window: 900, now: now), total: stats.total, totalErrors: stats.totalErrors)
            }
            var instances: [String: Load] = [:]
            for (id, slot) in state.slots {
                instances[id] = load(slot.stats, inFlight: slot.inFlight, queued: state.waiters.filter { $0.target == id }.count)
            }
            let inFlight = state.slots.values.reduce(0) { $0 + $1.inFlight }
            return Metrics(block: load(state.stats, inFlight: inFlight, queued: state.waiters.count), instances: instances, retried: state.retried)
        }
    }

    // MARK: Introspection and management

    /// What the executor holds, for `aios describe` and the `executor` management service.
    public var snapshot: [String: String] {
        state.withLock { state in
            var summary = state.balancer.summary
            summary["instances"] = state.order.map {
                "\($0)(\(state.slots[$0]?.inFlight ?? 0) in flight" + (state.slots[$0]?.unhealthy != nil ? ", unhealthy)" : ")")
            }.joined(separator: ", ")
            summary["queued"] = "\(state.waiters.count)"
            summary["served"] = "\(state.served)"
            summary["retried"] = "\(state.retried)"
            summary["maxInFlightPerInstance"] = "\(state.settings.maxInFlightPerInstance)"
            summary["maxQueued"] = "\(state.settings.maxQueued)"
            return summary
        }
    }

    /// The connections of `instanceId`, or of every instance when it is nil.
    public func connections(instanceId: String?) -> [InstanceConnection] {
        state.withLock { state in
            state.order.compactMap { id in
                guard instanceId == nil || instanceId == id else { return nil }
                return state.slots[id]?.connection
            }
        }
    }
}
