import AIOSModel
import AIOSStore
import Foundation
import Logging

/// Runs every placed block's instances through its cluster's driver (`InstanceDrivers`), one supervisor per
/// instance, keeps the registry's view of them current, and brings them back after a restart of `aios up`
/// (one reconcile of what the drivers run against the records first, so there are never orphaned or
/// duplicate instances). Images are pulled here first, with their registry's credentials, for drivers that
/// run them on this machine.
public actor InstanceManager {
    public struct Configuration: Sendable {
        public var files: BlockFiles
        public var policy = SupervisionPolicy()
        /// Pulls images for drivers that run them here; `nil` when there is no container engine.
        public var puller: ImagePuller?
        /// Keep a removed block's instance logs (`aios up --keep-logs`).
        public var keepLogs = false

        public init(files: BlockFiles) {
            self.files = files
        }
    }

    private let registry: any Registry
    /// Where requests are routed: instances join their block's executor when ready and leave it when they exit.
    private let routing: any InstanceRouting
    public nonisolated let drivers: InstanceDrivers
    private let configuration: Configuration
    private let logger: Logger
    private var supervisors: [String: [String: InstanceSupervisor]] = [:]
    /// Runs a restarted platform adopted from its drivers, until their instances' supervisors take them.
    private var adopted: [InstanceKey: any InstanceRun] = [:]
    /// Blocks being removed: a `start` that was suspended when the removal began must not spawn anything.
    private var removing: Set<String> = []
    private var shuttingDown = false
    /// Image pulls in flight, by block: a block's instances start once its pull is done.
    private var pulls: [String: Task<Void, Never>] = [:]
    /// The image each block pulled in this run: later starts (scale-up, replaced instances) do not pull again.
    private var pulled: [String: String] = [:]

    public init(registry: any Registry, routing: any InstanceRouting, drivers: InstanceDrivers, configuration: Configuration, logger: Logger) {
        self.registry = registry
        self.routing = routing
        self.drivers = drivers
        self.configuration = configuration
        self.logger = logger
    }

    // MARK: Lifecycle of a block's instances

    /// Starts the supervisors a placed block lacks.
    public func start(_ block: BlockRecord) async {
        guard !shuttingDown, [.starting, .ready, .degraded].contains(block.phase) else { return }
        let component: ComponentRecord, driver: any InstanceDriver
        do {
            guard let found = try await registry.component(uri: block.componentURI.description) else {
                await fail(block.blockId, type: .runtimeMissing, "component \(block.componentURI) is not registered; its instances cannot start")
                return
            }
            component = found
            let clusterId = block.placement.clusterId ?? ""
            guard let cluster = try await registry.cluster(id: clusterId) else {
                await fail(block.blockId, type: .runtimeMissing, "cluster \(clusterId) is not registered; the block's instances cannot start")
                return
            }
            switch drivers.driver(for: cluster) {
            case .success(let found): driver = found
            case .failure(let error):
                await fail(block.blockId, type: .runtimeMissing, error.description)
                return
            }
        } catch {
            logger.error("cannot read the block's component or cluster; its instances are not started", metadata: [
                "blockId": "\(block.blockId)", "componentURI": "\(block.componentURI)", "error": "\(error)",
            ])
            return
        }
        let workload: InstanceWorkload, componentEnvironment: [String: String]
        var imageRegistryId: String?
        // A component with both runs as a process where its cluster's driver runs commands, else as its image.
        if let process = ProcessRuntimeSpec(component: component.spec),
           driver.refusal(for: .command) == nil || OCIImageSpec(component: component.spec) == nil {
            workload = .command(process.command, cwd: process.cwd)
            componentEnvironment = process.environment
        } else if let image = OCIImageSpec(component: component.spec) {
            if let refusal = driver.refusal(for: .image) {
                await fail(block.blockId, type: .runtimeMissing, "component \(block.componentURI) runs as the OCI image \(image.image), and the cluster's \(driver.name) driver cannot run it: \(refusal)")
                return
            }
            if driver.pullsImagesHere {
                guard let puller = configuration.puller else {
                    await fail(block.blockId, type: .runtimeMissing, "component \(block.componentURI) runs as the OCI image \(image.image), and no container engine is configured")
                    return
                }
                guard let reference = pulled[block.blockId] else {
                    // Pull in the background: the request that created the block returns at once, and the pull's
                    // progress shows in the block's events. The instances start when it is done.
                    if pulls[block.blockId] == nil {
                        let blockId = block.blockId
                        pulls[blockId] = Task {
                            let reference = await self.pull(image, blockId: blockId, with: puller)
                            await self.pullFinished(blockId, reference: reference)
                        }
                    }
                    return
                }
                workload = .image(reference)
            } else {
                workload = .image(image.image)
                imageRegistryId = image.registryId
            }
            componentEnvironment = [:]
        } else {
            await fail(block.blockId, type: .runtimeMissing, "component \(block.componentURI) declares no runtime: add \"runtime\": {\"type\": \"process\", \"command\": [...]} or containerRegistryInfo.containerImage")
            return
        }
        if let refusal = driver.refusal(for: workload.kind) {
            await fail(block.blockId, type: .runtimeMissing, "the cluster's \(driver.name) driver cannot run component \(block.componentURI): \(refusal)")
            return
        }
        configureRouting(block)
        // Prepare every missing instance and store its record first, so no event of a started instance can
        // arrive before the record it updates; then start the supervisors.
        var records: [InstanceRecord] = []
        var launches: [InstanceLaunch] = []
        for placement in block.placement.instances where supervisors[block.blockId]?[placement.instanceId] == nil {
            let logPath = configuration.files.logFile(block.blockId, placement.instanceId).path
            do {
                let launch = try prepare(block: block, workload: workload, imageRegistryId: imageRegistryId, componentEnvironment: componentEnvironment,
                                         placement: placement, driver: driver)
                launches.append(launch)
                records.append(InstanceRecord(placement: placement, logPath: launch.logPath, driver: driver.name))
            } catch {
                logger.error("cannot prepare instance", metadata: ["blockId": "\(block.blockId)", "instanceId": "\(placement.instanceId)", "error": "\(error)"])
                var failed = InstanceRecord(placement: placement, logPath: logPath, driver: driver.name)
                failed.phase = .crashLoop
                failed.message = "cannot prepare the instance: \(error)"
                records.append(failed)
            }
        }
        guard !records.isEmpty else { return }
        let prepared = records
        await record(block.blockId, event: nil) { _, instances in
            for record in prepared {
                if let index = instances.firstIndex(where: { $0.instanceId == record.instanceId }) {
                    instances[index] = record
                } else {
                    instances.append(record)
                }
            }
        }
        // The block may have been removed (or the platform stopped) while this was suspended.
        guard !shuttingDown, !removing.contains(block.blockId),
              let current = try? await registry.block(id: block.blockId), current.phase != .deleting, current.phase != .failed else { return }
        for launch in launches where supervisors[block.blockId]?[launch.instanceId] == nil {
            // Each start below suspends: a removal or shutdown that began meanwhile stops the rest.
            guard !shuttingDown, !removing.contains(block.blockId) else { return }
            let blockId = block.blockId, instanceId = launch.instanceId
            let supervisor = InstanceSupervisor(
                launch: launch, driver: driver, policy: configuration.policy, adopting: adopted.removeValue(forKey: launch.key),
                // Ready once it answers at all: an instance that reports itself unhealthy (the system it links to
                // is down) joins out of rotation rather than being restarted.
                probe: { address in await InstanceClient.health(address: address) != nil },
                onEvent: { [weak self] event in await self?.handle(event, blockId: blockId, instanceId: instanceId) })
            supervisors[blockId, default: [:]][instanceId] = supervisor
            await supervisor.start()
        }
    }

    /// Stops every instance of a block and waits until their processes are gone. A `start` of the block
    /// that is still under way spawns nothing afterwards.
    public func stop(blockId: String) async {
        removing.insert(blockId)
        pulls.removeValue(forKey: blockId)?.cancel()
        pulled[blockId] = nil
        // Stop routing first, so no request goes to an instance that is being stopped.
        routing.remove(blockId: blockId, reason: "block \(blockId) is being removed")
        let blockSupervisors = supervisors.removeValue(forKey: blockId) ?? [:]
        await withTaskGroup(of: Void.self) { group in
            for supervisor in blockSupervisors.values {
                group.addTask { await supervisor.stop() }
            }
        }
        var clusters = Set(blockSupervisors.values.map(\.launch.clusterId))
        if clusters.isEmpty, let placed = (try? await registry.block(id: blockId))?.placement.clusterId { clusters = [placed] }
        await release(blockId: blockId, instanceId: nil, clusterId: clusters.count == 1 ? clusters.first : nil)
    }

    /// What drivers made for instances beyond their runs goes with them (every driver is asked: a block whose
    /// instances never started still has nothing left behind).
    private func release(blockId: String, instanceId: String?, clusterId: String?) async {
        for name in drivers.names {
            await drivers[name]?.release(blockId: blockId, instanceId: instanceId, clusterId: clusterId)
        }
    }

    /// The process id of each running instance of the block.
    public func processIds(blockId: String) async -> [String: Int32] {
        var pids: [String: Int32] = [:]
        for (instanceId, supervisor) in supervisors[blockId] ?? [:] {
            if let pid = await supervisor.pid { pids[instanceId] = pid }
        }
        return pids
    }

    /// Takes an instance out of rotation and replaces its process (the stability checker's remedy).
    public func replace(blockId: String, instanceId: String, reason: String) async {
        guard let supervisor = supervisors[blockId]?[instanceId] else { return }
        routing.instanceGone(blockId: blockId, instanceId: instanceId)
        await record(blockId, event: BlockEvent(type: .instanceReplaced, message: "\(instanceId): \(reason); restarting it")) { _, instances in
            instances.update(instanceId) {
                $0.healthy = false
                $0.phase = .restarting
                $0.message = reason
            }
        }
        await supervisor.restartProcess(reason: reason)
    }

    /// Stops one instance (scale-down) and waits until its process is gone. The caller drops it from the
    /// block's placement.
    public func stopInstance(blockId: String, instanceId: String) async {
        guard let supervisor = supervisors[blockId]?.removeValue(forKey: instanceId) else { return }
        await supervisor.stop()
        await release(blockId: blockId, instanceId: instanceId, clusterId: supervisor.launch.clusterId)
    }

    /// After the block's record is gone: its block files (which hold its opened secrets) go with it, and so do
    /// its logs unless `aios up --keep-logs`.
    public func forget(blockId: String) {
        removing.remove(blockId)
        configuration.files.remove(blockId: blockId, keepLogs: configuration.keepLogs)
    }

    /// After a restart, before anything else runs: one reconcile of what every driver runs against the
    /// recorded instances of every block (blocks whose removal was interrupted included). What a driver can
    /// adopt is kept for its instance's supervisor; everything else an earlier run left is stopped.
    public func reconcile() async throws {
        // Auth files of pulls a crashed run left: credentials must not stay on disk.
        if let puller = configuration.puller { try? FileManager.default.removeItem(at: puller.scratch) }
        var recorded: [InstanceKey: InstanceRecord] = [:]
        for block in try await registry.blocks() {
            for record in block.instances { recorded[InstanceKey(blockId: block.blockId, instanceId: record.instanceId)] = record }
        }
        adopted = await drivers.reconcile(recorded: recorded)
        if !adopted.isEmpty {
            logger.notice("adopted instances an earlier run left", metadata: ["instances": "\(adopted.keys.map(\.description).sorted())"])
        }
    }

    /// After a restart and `reconcile()`: starts every placed block's instances (adopting what was adopted).
    public func startAll() async throws {
        for block in try await registry.blocks() {
            guard [.starting, .ready, .degraded].contains(block.phase), !block.placement.instances.isEmpty,
                  supervisors[block.blockId] == nil else { continue }
            do {
                _ = try await registry.transition(blockId: block.blockId) { block, _ in
                    var block = block
                    block.instances = []
                    block.phase = .starting
                    block.reason = nil
                    return BlockTransition(block: block, events: [BlockEvent(type: .recovering, message: "aios restarted; starting \(block.placement.instances.count) instance(s) again")])
                }
            } catch {
                logger.error("cannot recover the block's instances", metadata: ["blockId": "\(block.blockId)", "error": "\(error)"])
                continue
            }
            if let fresh = try await registry.block(id: block.blockId) { await start(fresh) }
        }
        // What was adopted but has no placed instance any more is stopped.
        let unclaimed = adopted.values
        adopted.removeAll()
        for run in unclaimed { _ = await run.stop(grace: configuration.policy.terminationGrace) }
    }

    /// Stops every instance (when `aios up` shuts down), all blocks at once. The registry keeps their
    /// records, so the next start recovers them.
    public func shutdown() async {
        shuttingDown = true
        for pull in pulls.values { pull.cancel() }
        pulls.removeAll()
        routing.removeAll(reason: "aios is shutting down")
        let all = supervisors.values.flatMap(\.values)
        supervisors.removeAll()
        await withTaskGroup(of: Void.self) { group in
            for supervisor in all {
                // Pods outlive the platform: the next start adopts them.
                if supervisor.driver.keepsRunsAcrossRestarts {
                    group.addTask { await supervisor.detach() }
                } else {
                    group.addTask { await supervisor.stop() }
                }
            }
        }
    }

    /// Readies the block's routing; a policy the block named but that is not built in is noted in its events.
    private func configureRouting(_ block: BlockRecord) {
        if let note = routing.prepare(block) {
            let blockId = block.blockId
            Task { await record(blockId, event: BlockEvent(type: .routing, message: note)) { _, _ in } }
        }
    }

    /// The stability checker's verdict on a running instance that answers `Health`: `unhealthyReason` when it
    /// reports itself unhealthy (it gets no requests), `nil` when it reports healthy again.
    public func reportHealth(blockId: String, instanceId: String, unhealthyReason: String?) async {
        let event = unhealthyReason.map { BlockEvent(type: .instanceUnhealthy, message: "\(instanceId): \($0); no requests go to it until it reports healthy") }
            ?? BlockEvent(type: .instanceHealthy, message: "\(instanceId) reports healthy again; requests go to it")
        await record(blockId, event: event) { _, instances in
            instances.update(instanceId) {
                guard $0.phase == .running else { return }
                $0.healthy = unhealthyReason == nil
                $0.message = unhealthyReason
            }
        }
    }

    // MARK: Events

    private func handle(_ event: InstanceEvent, blockId: String, instanceId: String) async {
        guard !shuttingDown else { return }
        if case .stopped = event {} else {
            // Late news of an instance that is being removed (its block deleted, or scaled down) changes nothing.
            guard !removing.contains(blockId), supervisors[blockId]?[instanceId] != nil else { return }
        }
        switch event {
        case .launched(let identity):
            await record(blockId, event: nil) { _, instances in
                instances.update(instanceId) {
                    $0.driver = identity.driver
                    $0.runtimeName = identity.name
                    if identity.pid != nil {
                        $0.pid = identity.pid
                        $0.startTime = identity.startTime
                    }
                }
            }
        case .started(let identity, let address):
            await record(blockId, event: BlockEvent(type: .instanceStarted, message: "\(instanceId) started (\(identity.description)) on \(address)")) { _, instances in
                instances.update(instanceId) {
                    $0.driver = identity.driver
                    $0.pid = identity.pid
                    $0.startTime = identity.startTime
                    $0.runtimeName = identity.name
                    $0.address = address
                    // A crash-looping instance stays reported as such (with its last log lines) until it is ready.
                    if $0.phase != .crashLoop { $0.phase = .starting }
                    $0.healthy = false
                }
            }
        case .ready(let address):
            let reply = await InstanceClient.health(address: address)
            let unhealthy = reply.flatMap(InstanceClient.unhealthyReason)
            do {
                try routing.instanceReady(blockId: blockId, instanceId: instanceId, address: address, unhealthyReason: unhealthy)
            } catch {
                logger.error("cannot route to the instance", metadata: ["blockId": "\(blockId)", "instanceId": "\(instanceId)", "error": "\(error)"])
            }
            let message = unhealthy.map { "\(instanceId) answers Health but reports itself unhealthy (\($0)); no requests go to it until it reports healthy" }
                ?? "\(instanceId) answers Health"
            await record(blockId, event: BlockEvent(type: .instanceReady, message: message)) { _, instances in
                instances.update(instanceId) {
                    $0.phase = .running
                    $0.healthy = unhealthy == nil
                    $0.message = unhealthy
                }
            }
        case .exited(let status, let restarts, let restartIn, let crashLooping, let logTail):
            routing.instanceGone(blockId: blockId, instanceId: instanceId)
            let tail = logTail.suffix(5).joined(separator: " | ")
            let message = "\(instanceId) exited with status \(status); restarting in \(restartIn.formatted) s" + (crashLooping ? " (crash loop)" : "")
                + (tail.isEmpty ? "" : "; last log lines: \(tail)")
            await record(blockId, event: BlockEvent(type: crashLooping ? .crashLoop : .instanceExited, message: message)) { _, instances in
                instances.update(instanceId) {
                    $0.phase = crashLooping ? .crashLoop : .restarting
                    $0.healthy = false
                    $0.restarts = restarts
                    $0.lastExit = status
                    $0.message = tail.isEmpty ? nil : "last log lines: \(tail)"
                }
            }
        case .startFailed(let reason, let restarts, let restartIn, let crashLooping):
            await down(blockId, instanceId, event: BlockEvent(type: .instanceStartFailed, message: "\(instanceId): \(reason); retrying in \(restartIn.formatted) s"),
                       reason: reason, restarts: restarts, crashLooping: crashLooping)
        case .lost(let reason, let restarts, let restartIn, let crashLooping):
            await down(blockId, instanceId, event: BlockEvent(type: .instanceLost, message: "\(instanceId): \(reason); starting it again in \(restartIn.formatted) s"),
                       reason: reason, restarts: restarts, crashLooping: crashLooping)
        case .waiting(let reason):
            await record(blockId, event: BlockEvent(type: .instanceWaiting, message: "\(instanceId): \(reason)")) { _, instances in
                instances.update(instanceId) { $0.message = reason }
            }
        case .stopped:
            routing.instanceGone(blockId: blockId, instanceId: instanceId)
        }
    }

    /// An instance that did not start, or whose run was lost: out of rotation, and recorded as waiting for its
    /// next start (or crash-looping) with the reason.
    private func down(_ blockId: String, _ instanceId: String, event: BlockEvent, reason: String, restarts: Int, crashLooping: Bool) async {
        routing.instanceGone(blockId: blockId, instanceId: instanceId)
        await record(blockId, event: event) { _, instances in
            instances.update(instanceId) {
                $0.phase = crashLooping ? .crashLoop : .restarting
                $0.healthy = false
                $0.restarts = restarts
                $0.message = reason
            }
        }
    }

    /// Applies `change` to the block and its instance records in one registry transaction, derives the
    /// block's phase, and adds an event for the change and one for a phase change.
    private func record(_ blockId: String, event: BlockEvent?, _ change: @escaping @Sendable (inout BlockRecord, inout [InstanceRecord]) -> Void) async {
        do {
            _ = try await registry.transition(blockId: blockId) { block, _ in
                var block = block
                let before = (block.phase, block.reason)
                var instances = block.instances
                change(&block, &instances)
                block.instances = instances
                block.derivePhase()
                var events = event.map { [$0] } ?? []
                if block.phase != before.0 {
                    events.append(BlockEvent(type: BlockEventType(entering: block.phase), message: block.reason ?? "\(instances.filter(\.healthy).count) of \(block.minInstances) required instances healthy"))
                }
                return BlockTransition(block: block, events: events)
            }
        } catch RegistryError.notFound {
            // The block was removed meanwhile.
        } catch {
            logger.error("cannot record instance state", metadata: ["blockId": "\(blockId)", "error": "\(error)"])
        }
    }

    // MARK: Launch

    /// The instance's typed launch: its variables, block file, allocation and workload.
    private func prepare(block: BlockRecord, workload: InstanceWorkload, imageRegistryId: String?, componentEnvironment: [String: String],
                         placement: BlockPlacement.Instance, driver: any InstanceDriver) throws -> InstanceLaunch {
        let logPath = try configuration.files.createLog(block.blockId, placement.instanceId)
        let clusterId = block.placement.clusterId ?? ""
        let blockFile = try configuration.files.writeBlockFile(block, placement: placement, simulated: !driver.runsOnRealGPUs)
        let gpus = placement.gpus.joined(separator: ",")
        var environment = componentEnvironment
        environment.merge([
            "AIOS_BLOCK_ID": block.blockId,
            "AIOS_INSTANCE_ID": placement.instanceId,
            "AIOS_BLOCK_FILE": blockFile.path,
            "AIOS_CLUSTER_ID": clusterId,
            "AIOS_NODE_ID": placement.nodeId,
            "CUDA_VISIBLE_DEVICES": gpus,
            "NVIDIA_VISIBLE_DEVICES": gpus.isEmpty ? "void" : gpus,
            "PYTHONUNBUFFERED": "1",
        ]) { _, aios in aios }
        let parameters = block.resolved.policies["resourceAllocator"]?["parameters"]?.objectValue ?? [:]
        var launch = InstanceLaunch(
            blockId: block.blockId, instanceId: placement.instanceId, clusterId: clusterId, nodeId: placement.nodeId, gpus: placement.gpus,
            cpus: parameters["cpus"]?.numberValue, memoryMB: (parameters["min_memory_mb"] ?? parameters["memory"])?.numberValue,
            environment: environment, blockFile: blockFile.path, workload: workload, logPath: logPath)
        launch.imageRegistryId = imageRegistryId
        // What the block file opens: the resolved init data and settings (an init program's sealed result included).
        launch.blockFileHoldsSecrets = SecretValues.containsSealed(.object(block.resolved.blockInitData))
            || SecretValues.containsSealed(.object(block.resolved.initSettings)) || SecretValues.containsSealed(.object(block.spec))
        return launch
    }

    /// Pulls a block's image, the engine's progress as block events. Returns the reference pulled, or `nil`
    /// when the pull failed and the block is `Failed` with the registry's answer.
    private func pull(_ image: OCIImageSpec, blockId: String, with puller: ImagePuller) async -> String? {
        let registry = self.registry
        let outcome = await puller.pull(image, logPath: configuration.files.logFile(blockId, "pull").path) { event in
            _ = try? await registry.transition(blockId: blockId) { block, _ in BlockTransition(block: block, events: [event]) }
        }
        switch outcome {
        case .pulled(let reference): return reference
        case .cancelled: return nil
        case .failed(let reason):
            await fail(blockId, type: .imagePullFailed, reason)
            return nil
        }
    }

    /// After a block's pull: its instances start, from the block as it is now (a scale-up during the pull included).
    private func pullFinished(_ blockId: String, reference: String?) async {
        pulls[blockId] = nil
        guard let reference, !shuttingDown, !removing.contains(blockId) else { return }
        pulled[blockId] = reference
        guard let block = try? await registry.block(id: blockId) else { return }
        await start(block)
    }

    private func fail(_ blockId: String, type: BlockEventType, _ reason: String) async {
        logger.error("block failed", metadata: ["blockId": "\(blockId)", "reason": "\(reason)"])
        await record(blockId, event: BlockEvent(type: type, message: reason)) { block, _ in
            block.phase = .failed
            block.reason = reason
        }
    }

    /// After the block's stored parameters changed: rewrites its instances' block files, so an instance
    /// that restarts starts with the new parameters.
    public func refreshBlockFiles(blockId: String) async {
        do {
            guard let block = try await registry.block(id: blockId) else { return }
            let simulated = try await registry.cluster(id: block.placement.clusterId ?? "").map { cluster in
                (try? drivers.driver(for: cluster).get())?.runsOnRealGPUs == false
            } ?? false
            for placement in block.placement.instances { try configuration.files.writeBlockFile(block, placement: placement, simulated: simulated) }
        } catch {
            logger.error("cannot rewrite the block's instance files", metadata: ["blockId": "\(blockId)", "error": "\(error)"])
        }
    }
}
