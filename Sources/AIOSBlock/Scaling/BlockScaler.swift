import AIOSMetrics
import AIOSModel
import AIOSPolicy
import AIOSRuntime
import AIOSStore
import AIOSWire
import Foundation
import Logging
import ServiceLifecycle

/// Runs every block's autoscaler and stability checker. Each tick (every second) it looks at the running
/// blocks; a block's autoscaler decides on its own interval (its `settings.interval_seconds`, 5 s by
/// default) from its instances' CPU/GPU use or load, and the runtime enforces `minInstances` ≤ count ≤
/// `maxInstances` and the cooldowns whatever the policy says. The stability checker probes each instance's
/// `Health` every `check_interval_sec` and replaces an instance after `unhealthy_threshold` consecutive
/// failures. Every decision is an event on the block with the values that caused it.
public actor BlockScaler: Service {
    private let registry: any Registry
    private let executors: Executors
    private let instances: InstanceManager
    private let placement: any InstancePlacing
    private let sampler: ProcessSampler
    private let metrics: LiveMetrics
    private let logger: Logger
    private let tick: Duration
    /// Registered custom policies: a block whose `autoscaler` names one asks it first.
    private let policies: CustomPolicies?

    private struct BlockState {
        var nextScaleCheck = Date.distantPast
        var lastScaleUp = Date.distantPast
        var lastScaleDown = Date.distantPast
        var lastReason = ""
        var notedFallback = false
        var notedSettings = false
        var nextHealthCheck = Date.distantPast
        var failures: [String: Int] = [:]
    }

    private var blocks: [String: BlockState] = [:]
    /// The stability checker's connections to the instances.
    private let probes = HealthProbes()
    /// Blocks whose work of an earlier tick is still running (a drain can take 30 s): one block's slow
    /// scale-down never holds up the others.
    private var busy: Set<String> = []

    public init(registry: any Registry, executors: Executors, instances: InstanceManager, placement: any InstancePlacing,
         sampler: ProcessSampler, metrics: LiveMetrics, logger: Logger, tick: Duration = .seconds(1), policies: CustomPolicies? = nil) {
        self.policies = policies
        self.registry = registry
        self.executors = executors
        self.instances = instances
        self.placement = placement
        self.sampler = sampler
        self.metrics = metrics
        self.logger = logger
        self.tick = tick
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await self.runOnce()
                try? await Task.sleep(for: self.tick)
            }
        }
    }

    public func runOnce() async {
        let all: [BlockRecord]
        do {
            all = try await registry.blocks()
        } catch {
            logger.error("the scaler cannot read blocks", metadata: ["error": "\(error)"])
            return
        }
        let running = all.filter { [.ready, .degraded].contains($0.phase) }
        blocks = blocks.filter { id, _ in running.contains { $0.blockId == id } || busy.contains(id) }
        var live: Set<Int32> = []
        for block in all { live.formUnion(await instances.processIds(blockId: block.blockId).values) }
        await sampler.retain(live)
        await probes.retain(Set(all.flatMap { $0.instances.compactMap(\.address) }))
        for block in running where !busy.contains(block.blockId) {
            busy.insert(block.blockId)
            Task {
                // A block that scaled this round is health-checked next round, on its new instance list.
                if await !self.autoscale(block) { await self.checkStability(block) }
                await self.finished(block.blockId)
            }
        }
    }

    private func finished(_ blockId: String) {
        busy.remove(blockId)
    }

    // MARK: Autoscaling

    /// Returns whether the block changed size.
    private func autoscale(_ block: BlockRecord) async -> Bool {
        let now = Date()
        var state = blocks[block.blockId] ?? BlockState()
        defer { blocks[block.blockId] = state }
        guard let settings = AutoscalerSettings(block: block.resolved), now >= state.nextScaleCheck else { return false }
        state.nextScaleCheck = now.addingTimeInterval(settings.interval)
        if !state.notedSettings, !settings.notes.isEmpty {
            state.notedSettings = true
            await event(block.blockId, .autoscalerPolicy, settings.notes.joined(separator: "; "))
        }
        // Only a block whose instances are all up is judged: a starting instance has no load yet.
        let records = block.instances
        guard records.count == block.placement.instances.count, records.allSatisfy(\.healthy) else { return false }

        let signals = await signals(block)
        let sinceUp = now.timeIntervalSince(state.lastScaleUp), sinceDown = now.timeIntervalSince(state.lastScaleDown)
        let desired: Int, reason: String, victims: [String]
        if let custom = await customDecision(block, settings: settings, signals: signals, sinceScaleUp: sinceUp, sinceScaleDown: sinceDown) {
            (desired, reason, victims) = custom
        } else {
            guard let decision = Autoscaler.decide(
                current: block.placement.instances.count, minInstances: block.minInstances, maxInstances: block.maxInstances,
                settings: settings, signals: signals, sinceScaleUp: sinceUp, sinceScaleDown: sinceDown) else { return false }
            if let fallback = decision.fallback, !state.notedFallback {
                state.notedFallback = true
                await event(block.blockId, .autoscalerFallback, fallback)
            }
            (desired, reason, victims) = (decision.desired, decision.reason, [])
        }
        let current = block.placement.instances.count
        if desired > current {
            state.lastScaleUp = now
            blocks[block.blockId] = state
            await scaleUp(block, by: desired - current, reason: reason)
            return true
        } else if desired < current {
            state.lastScaleDown = now
            blocks[block.blockId] = state
            await scaleDown(block, by: current - desired, reason: reason, preferring: victims)
            return true
        }
        return false
    }

    /// The block's custom autoscaler's decision, bounded by `minInstances`/`maxInstances` and the cooldowns;
    /// `nil` when the block has none registered or it failed (the built-in decides; the events say why).
    private func customDecision(_ block: BlockRecord, settings: AutoscalerSettings, signals: [Autoscaler.InstanceSignal],
                                sinceScaleUp: Double, sinceScaleDown: Double) async -> (desired: Int, reason: String, victims: [String])? {
        guard let policies, let rule = (try? PolicyRule.read(block.resolved.policies, kind: .autoscaler, location: .root)) ?? nil,
              await policies.isRegistered(rule.uri) else { return nil }
        let current = block.placement.instances.map(\.instanceId)
        var perInstance: [String: JSONValue] = [:]
        for signal in signals {
            var values: [String: JSONValue] = ["load": .number(Double(signal.load)), "queue_length": .number(Double(signal.load))]
            if let cpu = signal.cpu { values["cpu"] = .number(cpu) }
            if let gpu = signal.gpu { values["gpu"] = .number(gpu) }
            perInstance[signal.instanceId] = .object(values)
        }
        var clusterData = JSONValue.null
        if let clusterId = block.placement.clusterId { clusterData = await metrics.document(clusterId: clusterId) }
        let input: JSONValue = [
            "block_data": ["id": .string(block.blockId), "blockId": .string(block.blockId), "minInstances": .number(Double(block.minInstances)),
                           "maxInstances": .number(Double(block.maxInstances)), "metrics": .object(perInstance)],
            "cluster_data": clusterData,
            "current_instances": .array(current.map(JSONValue.string)),
        ]
        let uri = rule.uri ?? "-"
        let failure: PolicyFailure
        switch await policies.evaluate(rule, owner: block.blockId, input: input) {
        case .builtIn:
            return nil
        case .decided(let result):
            switch PolicyOutputs.scaling(result, current: current) {
            case .success(let scaling):
                var wanted = current.count
                var victims: [String] = []
                switch scaling {
                case .skip: return (current.count, "", [])
                case .up(let count): wanted = current.count + count
                case .down(let list): wanted = current.count - list.count; victims = list
                }
                var desired = min(max(wanted, block.minInstances), block.maxInstances)
                var reason = "autoscaler policy \(uri) asked for \(wanted) instance(s)"
                if desired != wanted { reason += " (bounded by minInstances \(block.minInstances) and maxInstances \(block.maxInstances) to \(desired))" }
                if desired > current.count && sinceScaleUp < settings.scaleUpCooldown {
                    reason += String(format: "; scale-up waits for its cooldown (%.0f of %.0f s)", sinceScaleUp, settings.scaleUpCooldown)
                    desired = current.count
                } else if desired < current.count && min(sinceScaleDown, sinceScaleUp) < settings.scaleDownCooldown {
                    reason += String(format: "; scale-down waits for its cooldown (%.0f of %.0f s)", min(sinceScaleDown, sinceScaleUp), settings.scaleDownCooldown)
                    desired = current.count
                }
                await policies.report(owner: block.blockId, kind: .autoscaler, type: .policyDecided, reason)
                return (desired, reason, victims)
            case .failure(let bad):
                failure = bad
            }
        case .failed(let failed):
            failure = failed
        }
        await policies.reportFallback(rule, owner: block.blockId, failure, builtIn: "the built-in autoscaler (\(settings.signal.rawValue))")
        return nil
    }

    /// Each instance's CPU use against its allocation, its GPUs' utilisation, and its requests.
    private func signals(_ block: BlockRecord) async -> [Autoscaler.InstanceSignal] {
        let pids = await instances.processIds(blockId: block.blockId)
        let load = executors.executor(for: block.blockId)?.metrics().instances ?? [:]
        let reservations = (try? await registry.reservations().filter { $0.blockId == block.blockId }) ?? []
        let live = await metrics.snapshot()
        let usages = await sampler.usages(pids: Set(pids.values))
        var signals: [Autoscaler.InstanceSignal] = []
        for placed in block.placement.instances {
            var cpu: Double?
            if let pid = pids[placed.instanceId], let percent = usages[pid]?.cpuPercent {
                let allocated = max(reservations.first { $0.instanceId == placed.instanceId }?.cpus ?? 1, 1)
                cpu = percent / 100 / allocated
            }
            var gpu: Double?
            if let clusterId = block.placement.clusterId, let node = live[clusterId]?[placed.nodeId], !placed.gpus.isEmpty {
                let utilisations = node.metrics.gpus.filter { placed.gpus.contains($0.gpuId) }.map(\.cudaUtilization)
                if !utilisations.isEmpty { gpu = utilisations.reduce(0, +) / Double(utilisations.count) / 100 }
            }
            let instanceLoad = load[placed.instanceId]
            signals.append(Autoscaler.InstanceSignal(instanceId: placed.instanceId, cpu: cpu, gpu: gpu,
                                                     load: (instanceLoad?.inFlight ?? 0) + (instanceLoad?.queued ?? 0)))
        }
        return signals
    }


    /// Manual scaling (`executeMgmtCommand` to the executor: `scale {"instances": N}`), within the block's
    /// `minInstances` and `maxInstances`; the autoscaler's cooldowns start from it.
    public func scale(_ block: BlockRecord, to count: Int) async throws -> String {
        guard (block.minInstances...block.maxInstances).contains(count) else {
            throw APIError.validation([FieldError(path: "mgmtData.instances", message: "must be from minInstances \(block.minInstances) to maxInstances \(block.maxInstances), got \(count)")])
        }
        guard !busy.contains(block.blockId) else { throw APIError(.conflict, "block \(block.blockId) is being scaled; try again") }
        busy.insert(block.blockId)
        defer { busy.remove(block.blockId) }
        let current = block.placement.instances.count
        if count > current {
            await scaleUp(block, by: count - current, reason: "manual scale to \(count)")
            blocks[block.blockId, default: BlockState()].lastScaleUp = Date()
        } else if count < current {
            await scaleDown(block, by: current - count, reason: "manual scale to \(count)")
            blocks[block.blockId, default: BlockState()].lastScaleDown = Date()
        }
        return "\(current) → \(count) instances"
    }

    /// Places instances again elsewhere in their cluster (the node they ran on left it, or is lost): as many new
    /// ones are placed where they fit, then the old ones stop and release what they held. Waits (up to a minute)
    /// for scaling work of the block that is under way.
    public func relocate(blockId: String, instanceIds: [String], reason: String) async {
        let until = Date().addingTimeInterval(60)
        while busy.contains(blockId), Date() < until { try? await Task.sleep(for: .milliseconds(200)) }
        guard !busy.contains(blockId) else {
            await event(blockId, .nodeLost, "\(instanceIds.joined(separator: ", ")): \(reason); not moved, the block was being scaled for a minute")
            return
        }
        busy.insert(blockId)
        defer { busy.remove(blockId) }
        guard let block = try? await registry.block(id: blockId), [.starting, .ready, .degraded].contains(block.phase) else { return }
        let victims = instanceIds.filter { id in block.placement.instances.contains { $0.instanceId == id } }
        guard !victims.isEmpty else { return }
        await event(blockId, .nodeLost, "\(victims.joined(separator: ", ")): \(reason); placing \(victims.count == 1 ? "it" : "them") elsewhere in the cluster")
        // New ones first (where they fit: the lost node is not placed on), then the old ones go either way.
        await scaleUp(block, by: victims.count, reason: "replacing \(victims.joined(separator: ", ")) (\(reason))")
        guard let grown = try? await registry.block(id: blockId) else { return }
        await scaleDown(grown, by: victims.count, reason: reason, preferring: victims)
    }

    private func scaleUp(_ block: BlockRecord, by count: Int, reason: String) async {
        do {
            let (grown, message) = try await placement.addInstances(to: block, count: count, reason: reason)
            logger.info("scale up", metadata: ["blockId": "\(block.blockId)", "result": "\(message)"])
            if let grown { await instances.start(grown) }
        } catch {
            logger.error("scale up failed", metadata: ["blockId": "\(block.blockId)", "error": "\(error)"])
            await event(block.blockId, .scaleUpFailed, "cannot add instances: \(error)")
        }
    }

    /// Removes the least loaded instances: no new requests go to them, the ones in flight finish (up to
    /// 30 s), then they stop and their resources are released.
    private func scaleDown(_ block: BlockRecord, by count: Int, reason: String, preferring chosen: [String] = []) async {
        let load = executors.executor(for: block.blockId)?.metrics().instances ?? [:]
        // The ones a custom policy named go first.
        let order = block.placement.instances.enumerated().sorted { a, b in
            let ca = chosen.contains(a.element.instanceId), cb = chosen.contains(b.element.instanceId)
            if ca != cb { return ca }
            let la = (load[a.element.instanceId]?.inFlight ?? 0) + (load[a.element.instanceId]?.queued ?? 0)
            let lb = (load[b.element.instanceId]?.inFlight ?? 0) + (load[b.element.instanceId]?.queued ?? 0)
            return la != lb ? la < lb : a.offset > b.offset
        }
        let victims = order.prefix(count).map(\.element.instanceId)
        let executor = executors.executor(for: block.blockId)
        let instances = self.instances, blockId = block.blockId
        let unfinished = await withTaskGroup(of: (String, Int).self) { group in
            for victim in victims {
                group.addTask {
                    let left = await executor?.drain(victim, timeout: .seconds(30)) ?? 0
                    await instances.stopInstance(blockId: blockId, instanceId: victim)
                    executor?.forget(victim)
                    return (victim, left)
                }
            }
            var unfinished: [String: Int] = [:]
            for await (victim, left) in group where left > 0 { unfinished[victim] = left }
            return unfinished
        }
        let drained = unfinished.isEmpty ? "drained" : "stopped with requests still in flight: \(unfinished)"
        do {
            _ = try await registry.transition(blockId: block.blockId) { current, _ in
                var updated = current
                updated.placement.instances.removeAll { victims.contains($0.instanceId) }
                updated.instances.removeAll { victims.contains($0.instanceId) }
                updated.desiredInstances = updated.placement.instances.count
                return BlockTransition(block: updated, events: [BlockEvent(
                    type: .scaledDown,
                    message: "\(current.placement.instances.count) → \(updated.placement.instances.count) instances (removed \(victims.joined(separator: ", ")), \(drained)): \(reason)")],
                    releasedInstances: victims)
            }
            logger.info("scale down", metadata: ["blockId": "\(block.blockId)", "removed": "\(victims)"])
        } catch {
            logger.error("cannot record the scale-down", metadata: ["blockId": "\(block.blockId)", "error": "\(error)"])
        }
    }

    // MARK: Stability

    private func checkStability(_ block: BlockRecord) async {
        let now = Date()
        var state = blocks[block.blockId] ?? BlockState()
        let settings = StabilitySettings(block: block.resolved)
        guard now >= state.nextHealthCheck else { return }
        state.nextHealthCheck = now.addingTimeInterval(settings.checkInterval)
        blocks[block.blockId] = state

        let records = block.instances.filter { $0.phase == .running }
        // Probes run side by side, so a hung instance delays no other.
        let timeout = Duration.milliseconds(Int64(settings.probeTimeout * 1000))
        let replies = await withTaskGroup(of: (String, Aios_Instance_V1_HealthReply?).self) { group in
            for record in records {
                guard let address = record.address else { continue }
                group.addTask { [probes] in (record.instanceId, await probes.health(address: address, timeout: timeout)) }
            }
            var replies: [String: Aios_Instance_V1_HealthReply?] = [:]
            for await (instanceId, reply) in group { replies[instanceId] = reply }
            return replies
        }
        let placed = Set(block.placement.instances.map(\.instanceId))
        var failures = state.failures.filter { placed.contains($0.key) }
        for record in records {
            guard let reply = replies[record.instanceId] else { continue }
            if let reply {
                // It answers: its own verdict decides whether requests go to it. Restarting it would not
                // help when what it reports on (say, a linked third-party server) is down.
                failures[record.instanceId] = 0
                let reason = InstanceClient.unhealthyReason(reply)
                if executors.setUnhealthy(blockId: block.blockId, instanceId: record.instanceId, reason: reason) {
                    await instances.reportHealth(blockId: block.blockId, instanceId: record.instanceId, unhealthyReason: reason)
                }
                continue
            }
            let count = (failures[record.instanceId] ?? 0) + 1
            failures[record.instanceId] = count
            let what = "Health did not answer within \(settings.probeTimeout) s"
            if count >= settings.unhealthyThreshold {
                failures[record.instanceId] = 0
                await instances.replace(blockId: block.blockId, instanceId: record.instanceId,
                                        reason: "\(what) on \(count) consecutive checks (unhealthy_threshold \(settings.unhealthyThreshold))")
            } else {
                await event(block.blockId, .healthCheckFailed, "\(record.instanceId): \(what) (\(count) of \(settings.unhealthyThreshold))")
            }
        }
        blocks[block.blockId]?.failures = failures
        await customStability(block, replies: replies)
    }

    /// A registered custom stabilityChecker sees each check's results (`{block_data, cluster_data,
    /// health_check_data: {id: bool}, instances}`); it may name instances to replace (`{replace: [ids]}`),
    /// which the runtime does. Anything else is advice only; a wrong id is a fallback event.
    private func customStability(_ block: BlockRecord, replies: [String: Aios_Instance_V1_HealthReply?]) async {
        guard let policies, let rule = (try? PolicyRule.read(block.resolved.policies, kind: .stabilityChecker, location: .root)) ?? nil,
              await policies.isRegistered(rule.uri), !replies.isEmpty else { return }
        let current = block.placement.instances.map(\.instanceId)
        var health: [String: JSONValue] = [:]
        for (id, reply) in replies { health[id] = .bool(reply.map { InstanceClient.unhealthyReason($0) == nil } ?? false) }
        var clusterData = JSONValue.null
        if let clusterId = block.placement.clusterId { clusterData = await metrics.document(clusterId: clusterId) }
        let input: JSONValue = [
            "block_data": ["id": .string(block.blockId), "blockId": .string(block.blockId), "minInstances": .number(Double(block.minInstances)),
                           "maxInstances": .number(Double(block.maxInstances))],
            "cluster_data": clusterData, "health_check_data": .object(health), "instances": .array(current.map(JSONValue.string)),
        ]
        let uri = rule.uri ?? "-"
        switch await policies.evaluate(rule, owner: block.blockId, input: input) {
        case .builtIn:
            return
        case .decided(let result):
            guard let list = (result["replace"] ?? result["unhealthy"])?.arrayValue else { return }
            var victims: [String] = []
            for (index, entry) in list.enumerated() {
                guard let id = entry.stringValue, current.contains(id) else {
                    await policies.reportFallback(rule, owner: block.blockId, PolicyFailure(.output, "\(entry.jsonString().prefix(80)) is not an instance of the block", field: "replace[\(index)]"),
                                                  builtIn: "the built-in health threshold")
                    return
                }
                if !victims.contains(id) { victims.append(id) }
            }
            for victim in victims {
                await instances.replace(blockId: block.blockId, instanceId: victim, reason: "stabilityChecker policy \(uri) asked to replace it")
            }
            if !victims.isEmpty {
                await policies.report(owner: block.blockId, kind: .stabilityChecker, type: .policyDecided, "stabilityChecker policy \(uri) replaced \(victims.joined(separator: ", "))")
            }
        case .failed(let failure):
            await policies.reportFallback(rule, owner: block.blockId, failure, builtIn: "the built-in health threshold")
        }
    }

    /// "Health answered \"unhealthy\": <its error>", from the status and the details' `error` (or the details).
    private func event(_ blockId: String, _ type: BlockEventType, _ message: String) async {
        do {
            _ = try await registry.transition(blockId: blockId) { block, _ in
                BlockTransition(block: block, events: [BlockEvent(type: type, message: message)])
            }
        } catch {
            logger.error("cannot record a block event", metadata: ["blockId": "\(blockId)", "error": "\(error)"])
        }
    }
}
