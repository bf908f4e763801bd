import AIOSBlock
import AIOSModel
import AIOSRuntime
import AIOSStore
import Foundation
import Logging

/// Runs every placed block's instances on this machine, as processes or as OCI containers (the image pulled
/// first, with its registry's credentials), keeps the registry's
/// view of them current, and brings them back after a restart of `aios up` (stopping whatever an earlier
/// run left behind first, so there are never orphaned or duplicate processes).
///
/// Clusters other than `local` are simulated: their instances run here too, with the GPU ids of their
/// allocation in `CUDA_VISIBLE_DEVICES`.
actor InstanceManager {
    struct Configuration: Sendable {
        var dataDirectory: URL
        var policy = SupervisionPolicy()
        /// Prepended (as `DIR/bin`) to instances' `PATH`, so `python3` is the one with the SDK.
        var pythonVirtualEnv: String?
        /// The container engine for components that are OCI images, or why there is none.
        var oci: Result<OCIEngine, OCIEngineError> = .failure(OCIEngineError("no OCI engine configured"))
        /// How long an image pull may take.
        var pullTimeout: Double = 900
        /// Opens the block's sealed secrets for its block file.
        var secrets: BlockSecrets?
        /// Keep a removed block's instance logs (`aios up --keep-logs`).
        var keepLogs = false
    }

    /// How a component's instances run.
    enum Runtime {
        case process(ProcessRuntimeSpec)
        case container(OCIEngine, image: String)
    }

    private let registry: any Registry
    /// Where requests are routed: instances join their block's executor when ready and leave it when they exit.
    let executors: Executors
    private let configuration: Configuration
    private let logger: Logger
    private var supervisors: [String: [String: InstanceSupervisor]] = [:]
    /// Blocks being removed: a `start` that was suspended when the removal began must not spawn anything.
    private var removing: Set<String> = []
    private var shuttingDown = false
    /// Image pulls in flight, by block: a block's instances start once its pull is done.
    private var pulls: [String: Task<Void, Never>] = [:]
    /// The image each block pulled in this run: later starts (scale-up, replaced instances) do not pull again.
    private var pulled: [String: String] = [:]

    private let registries: ContainerRegistries?

    init(registry: any Registry, executors: Executors, configuration: Configuration, registries: ContainerRegistries? = nil, logger: Logger) {
        self.registry = registry
        self.executors = executors
        self.configuration = configuration
        self.registries = registries
        self.logger = logger
    }

    // MARK: Lifecycle of a block's instances

    /// Starts the supervisors a placed block lacks.
    func start(_ block: BlockRecord) async {
        guard !shuttingDown, [.starting, .ready, .degraded].contains(block.phase) else { return }
        let component: ComponentRecord
        do {
            guard let found = try await registry.component(uri: block.componentURI.description) else {
                let reason = "component \(block.componentURI) is not registered; its instances cannot start"
                await record(block.blockId, event: BlockEvent(type: .runtimeMissing, message: reason)) { block, _ in
                    block.phase = .failed
                    block.reason = reason
                }
                return
            }
            component = found
        } catch {
            logger.error("cannot read the block's component; its instances are not started", metadata: [
                "blockId": "\(block.blockId)", "componentURI": "\(block.componentURI)", "error": "\(error)",
            ])
            return
        }
        let runtime: Runtime
        if let process = ProcessRuntimeSpec(component: component.spec) {
            runtime = .process(process)
        } else if let image = OCIImageSpec(component: component.spec) {
            guard case .success(let engine) = configuration.oci else {
                if case .failure(let error) = configuration.oci {
                    await fail(block.blockId, type: .runtimeMissing, "component \(block.componentURI) runs as the OCI image \(image.image), and \(error.description)")
                }
                return
            }
            guard let reference = pulled[block.blockId] else {
                // Pull in the background: the request that created the block returns at once, and the pull's
                // progress shows in the block's events. The instances start when it is done.
                if pulls[block.blockId] == nil {
                    let blockId = block.blockId
                    pulls[blockId] = Task {
                        let reference = await self.pull(image, for: block, engine: engine)
                        await self.pullFinished(blockId, reference: reference)
                    }
                }
                return
            }
            runtime = .container(engine, image: reference)
        } else {
            await fail(block.blockId, type: .runtimeMissing, "component \(block.componentURI) declares no runtime: add \"runtime\": {\"type\": \"process\", \"command\": [...]} or containerRegistryInfo.containerImage")
            return
        }
        configureExecutor(block)
        // Prepare every missing instance and store its record first, so no event of a started process can
        // arrive before the record it updates; then start the supervisors.
        var records: [InstanceRecord] = []
        var launches: [(BlockPlacement.Instance, InstanceLaunch)] = []
        for placement in block.placement.instances where supervisors[block.blockId]?[placement.instanceId] == nil {
            let logPath = logFile(block.blockId, placement.instanceId).path
            do {
                launches.append((placement, try prepare(block: block, component: component.spec, runtime: runtime, placement: placement, logPath: logPath)))
                records.append(InstanceRecord(placement: placement, logPath: logPath))
            } catch {
                logger.error("cannot prepare instance", metadata: ["blockId": "\(block.blockId)", "instanceId": "\(placement.instanceId)", "error": "\(error)"])
                var failed = InstanceRecord(placement: placement, logPath: logPath)
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
        for (placement, launch) in launches where supervisors[block.blockId]?[placement.instanceId] == nil {
            // Each start below suspends: a removal or shutdown that began meanwhile stops the rest.
            guard !shuttingDown, !removing.contains(block.blockId) else { return }
            let blockId = block.blockId, instanceId = placement.instanceId
            let supervisor = InstanceSupervisor(
                launch: launch, policy: configuration.policy,
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
    func stop(blockId: String) async {
        removing.insert(blockId)
        pulls.removeValue(forKey: blockId)?.cancel()
        pulled[blockId] = nil
        // Stop routing first, so no request goes to an instance that is being stopped.
        executors.remove(blockId: blockId, reason: "block \(blockId) is being removed")
        let blockSupervisors = supervisors.removeValue(forKey: blockId) ?? [:]
        await withTaskGroup(of: Void.self) { group in
            for supervisor in blockSupervisors.values {
                group.addTask { await supervisor.stop() }
            }
        }
    }

    /// The process id of each running instance of the block.
    func processIds(blockId: String) async -> [String: Int32] {
        var pids: [String: Int32] = [:]
        for (instanceId, supervisor) in supervisors[blockId] ?? [:] {
            if let pid = await supervisor.pid { pids[instanceId] = pid }
        }
        return pids
    }

    /// Takes an instance out of rotation and replaces its process (the stability checker's remedy).
    func replace(blockId: String, instanceId: String, reason: String) async {
        guard let supervisor = supervisors[blockId]?[instanceId] else { return }
        executors.instanceGone(blockId: blockId, instanceId: instanceId)
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
    func stopInstance(blockId: String, instanceId: String) async {
        guard let supervisor = supervisors[blockId]?.removeValue(forKey: instanceId) else { return }
        await supervisor.stop()
    }

    /// Forgets a removed block (after its record is gone).
    /// After the block's record is gone: its block files (which hold its opened secrets) go with it, and so do
    /// its logs unless `aios up --keep-logs`.
    func forget(blockId: String) {
        removing.remove(blockId)
        let manager = FileManager.default
        try? manager.removeItem(at: configuration.dataDirectory.appendingPathComponent("instances/\(blockId)"))
        if !configuration.keepLogs {
            try? manager.removeItem(at: configuration.dataDirectory.appendingPathComponent("logs/\(blockId)"))
        }
        try? FileManager.default.removeItem(at: runDirectory.appendingPathComponent(blockId))
    }

    /// After a restart, before anything else runs: stops every process an earlier run left (matched by pid
    /// and process start time), for every block, including blocks whose removal was interrupted.
    func stopOrphans() async throws {
        // Auth files of pulls a crashed run left: credentials must not stay on disk.
        try? FileManager.default.removeItem(at: configuration.dataDirectory.appendingPathComponent("secrets/pull"))
        if case .success(let engine) = configuration.oci {
            // Containers an earlier run left (its engine clients were killed with it): they are started afresh.
            for name in await engine.containers(label: "aios.data=\(configuration.dataDirectory.path)") {
                _ = await CommandOutput.run(engine.removeCommand(name: name), timeout: 30)
                logger.notice("removed a container left by an earlier run", metadata: ["container": "\(name)"])
            }
        }
        // Every spawn's run file: the intent recorded before it, the pid after. One whose pid was never
        // recorded (the crash came right after the spawn) is found by the marker in its environment.
        let grace = configuration.policy.terminationGrace, logger = self.logger
        await withTaskGroup(of: Void.self) { group in
            for runFile in instanceRunFiles() {
                group.addTask {
                    if let record = await runFile.stopLeftover(grace: grace) {
                        logger.notice("stopped an instance left by an earlier run", metadata: [
                            "blockId": "\(record["blockId"]?.stringValue ?? "?")", "instanceId": "\(record["instanceId"]?.stringValue ?? "?")",
                            "pid": "\(record["pid"]?.intValue.map(String.init) ?? "not recorded")",
                        ])
                    }
                }
            }
        }
        let blocks = try await registry.blocks()
        await withTaskGroup(of: Void.self) { group in
            for block in blocks {
                for record in block.instances {
                    guard let pid = record.pid, let startTime = record.startTime else { continue }
                    group.addTask {
                        if await OrphanReaper.stop(pid: pid, startTime: startTime, grace: grace) {
                            logger.notice("stopped an instance left by an earlier run", metadata: [
                                "blockId": "\(block.blockId)", "instanceId": "\(record.instanceId)", "pid": "\(pid)",
                            ])
                        }
                    }
                }
            }
        }
    }

    /// After a restart and `stopOrphans()`: starts every placed block's instances afresh.
    func startAll() async throws {
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
    }

    /// Stops every instance (when `aios up` shuts down), all blocks at once. The registry keeps their
    /// records, so the next start recovers them.
    func shutdown() async {
        shuttingDown = true
        for pull in pulls.values { pull.cancel() }
        pulls.removeAll()
        executors.removeAll(reason: "aios is shutting down")
        let all = supervisors.values.flatMap(\.values)
        supervisors.removeAll()
        await withTaskGroup(of: Void.self) { group in
            for supervisor in all {
                group.addTask { await supervisor.stop() }
            }
        }
    }

    /// Gives the block an executor with the routing its spec asks for; a policy the block named but that
    /// is not built in is noted in its events.
    private func configureExecutor(_ block: BlockRecord) {
        let settings = ExecutorSettings(block: block.resolved)
        let (_, isNew) = executors.configure(blockId: block.blockId, settings: settings)
        if isNew, let note = settings.note {
            let blockId = block.blockId
            Task { await record(blockId, event: BlockEvent(type: .routing, message: note)) { _, _ in } }
        }
    }

    /// The stability checker's verdict on a running instance that answers `Health`: `unhealthyReason` when it
    /// reports itself unhealthy (it gets no requests), `nil` when it reports healthy again.
    func reportHealth(blockId: String, instanceId: String, unhealthyReason: String?) async {
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
        case .started(let process, let address):
            await record(blockId, event: BlockEvent(type: .instanceStarted, message: "\(instanceId) started (pid \(process.pid)) on \(address)")) { _, instances in
                instances.update(instanceId) {
                    $0.pid = process.pid
                    $0.startTime = process.startTime
                    $0.address = address
                    // A crash-looping instance stays reported as such (with its last log lines) until it is ready.
                    if $0.phase != .crashLoop { $0.phase = .starting }
                    $0.healthy = false
                }
            }
        case .ready(let address):
            let reply = await InstanceClient.health(address: address)
            let unhealthy = reply.flatMap { $0.status == "healthy" ? nil : BlockScaler.unhealthyReason($0) }
            do {
                try executors.instanceReady(blockId: blockId, instanceId: instanceId, address: address)
                if let unhealthy { executors.setUnhealthy(blockId: blockId, instanceId: instanceId, reason: unhealthy) }
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
            executors.instanceGone(blockId: blockId, instanceId: instanceId)
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
            executors.instanceGone(blockId: blockId, instanceId: instanceId)
            await record(blockId, event: BlockEvent(type: .instanceStartFailed, message: "\(instanceId): \(reason); retrying in \(restartIn.formatted) s")) { _, instances in
                instances.update(instanceId) {
                    $0.phase = crashLooping ? .crashLoop : .restarting
                    $0.healthy = false
                    $0.restarts = restarts
                    $0.message = reason
                }
            }
        case .stopped:
            executors.instanceGone(blockId: blockId, instanceId: instanceId)
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

    private func logFile(_ blockId: String, _ instanceId: String) -> URL {
        configuration.dataDirectory.appendingPathComponent("logs/\(blockId)/\(instanceId).log")
    }

    private var runDirectory: URL { configuration.dataDirectory.appendingPathComponent("run/instances") }

    /// Where an instance's spawns are recorded (`RunFile`): removed when its supervisor stops it.
    private func runFile(_ blockId: String, _ instanceId: String) -> RunFile {
        RunFile(url: runDirectory.appendingPathComponent("\(blockId)/\(instanceId).json"))
    }

    /// The run files an earlier run left.
    private func instanceRunFiles() -> [RunFile] {
        let fileManager = FileManager.default
        let blocks = (try? fileManager.contentsOfDirectory(at: runDirectory, includingPropertiesForKeys: nil)) ?? []
        return blocks.flatMap { block in
            ((try? fileManager.contentsOfDirectory(at: block, includingPropertiesForKeys: nil)) ?? [])
                .filter { $0.pathExtension == "json" }.map(RunFile.init(url:))
        }
    }

    /// The instance's command, environment and block file.
    private func prepare(block: BlockRecord, component: ComponentSpec, runtime: Runtime,
                         placement: BlockPlacement.Instance, logPath: String) throws -> InstanceLaunch {
        let fileManager = FileManager.default
        try fileManager.createDirectory(at: URL(fileURLWithPath: logPath).deletingLastPathComponent(), withIntermediateDirectories: true)
        if !fileManager.fileExists(atPath: logPath) { fileManager.createFile(atPath: logPath, contents: nil) }

        let clusterId = block.placement.clusterId ?? ""
        let blockFilePath = try writeBlockFile(block, placement: placement)

        var environment: [String: String] = [:]
        if case .process(let process) = runtime {
            environment = LaunchEnvironment.base(pythonVirtualEnv: configuration.pythonVirtualEnv)
            environment.merge(process.environment) { _, component in component }
        }
        let gpus = placement.gpus.joined(separator: ",")
        environment.merge([
            "AIOS_BLOCK_ID": block.blockId,
            "AIOS_INSTANCE_ID": placement.instanceId,
            "AIOS_BLOCK_FILE": blockFilePath.path,
            "AIOS_CLUSTER_ID": clusterId,
            "AIOS_NODE_ID": placement.nodeId,
            "CUDA_VISIBLE_DEVICES": gpus,
            "NVIDIA_VISIBLE_DEVICES": gpus.isEmpty ? "void" : gpus,
            "PYTHONUNBUFFERED": "1",
        ]) { _, aios in aios }
        switch runtime {
        case .process(let process):
            return InstanceLaunch(blockId: block.blockId, instanceId: placement.instanceId, command: process.command,
                                  cwd: process.cwd, environment: environment, logPath: logPath,
                                  runFile: runFile(block.blockId, placement.instanceId))
        case .container(let engine, let image):
            var launch = containerLaunch(engine, image: image, block: block, placement: placement, environment: environment,
                                         blockFile: blockFilePath.path, logPath: logPath)
            launch.runFile = runFile(block.blockId, placement.instanceId)
            return launch
        }
    }

    /// The container's name: one per instance, so a restart replaces it.
    static func containerName(blockId: String, instanceId: String) -> String {
        "aios-\(blockId)-\(instanceId)"
    }

    /// `ENGINE run` for one instance: the instance's variables (and `AIOS_LISTEN`, set at each start) passed by
    /// name from the engine client's environment, the block file mounted read-only where the variable says,
    /// CPUs and memory from the resource allocation, GPUs (on this machine's own cluster) as devices.
    private func containerLaunch(_ engine: OCIEngine, image: String, block: BlockRecord, placement: BlockPlacement.Instance,
                                 environment: [String: String], blockFile: String, logPath: String) -> InstanceLaunch {
        let name = Self.containerName(blockId: block.blockId, instanceId: placement.instanceId)
        let parameters = block.resolved.policies["resourceAllocator"]?["parameters"]?.objectValue ?? [:]
        let local = (block.placement.clusterId ?? "") == ControlPlane.localClusterId
        let devices = local ? placement.gpus : []
        var environment = environment
        // Inside the container its GPUs are numbered from 0; a simulated node's GPUs are not this machine's.
        environment["CUDA_VISIBLE_DEVICES"] = devices.indices.map(String.init).joined(separator: ",")
        environment["NVIDIA_VISIBLE_DEVICES"] = devices.isEmpty ? "void" : devices.joined(separator: ",")
        let cpus = parameters["cpus"]?.numberValue.map { min($0, Double(ProcessInfo.processInfo.activeProcessorCount)) }
        let container = OCIEngine.Container(
            name: name, image: image, environmentNames: Array(environment.keys) + ["AIOS_LISTEN"], readOnlyMounts: [blockFile],
            cpus: cpus, memoryMB: (parameters["min_memory_mb"] ?? parameters["memory"])?.numberValue,
            gpus: devices,
            labels: ["aios.block": block.blockId, "aios.instance": placement.instanceId, "aios.data": configuration.dataDirectory.path])
        // The engine client itself needs PATH and HOME; only the instance's variables go into the container.
        var clientEnvironment = LaunchEnvironment.base(pythonVirtualEnv: nil)
        clientEnvironment.merge(environment) { _, instance in instance }
        return InstanceLaunch(blockId: block.blockId, instanceId: placement.instanceId, command: engine.runCommand(container),
                              cwd: "/", environment: clientEnvironment, logPath: logPath, afterExit: engine.removeCommand(name: name))
    }

    /// Pulls a block's image with its registry's credentials before its instances start, the engine's progress
    /// as block events. Returns the reference pulled, or `nil` when the pull failed and the block is `Failed`
    /// with the registry's answer.
    private func pull(_ image: OCIImageSpec, for block: BlockRecord, engine: OCIEngine) async -> String? {
        let blockId = block.blockId
        let scratch = configuration.dataDirectory.appendingPathComponent("secrets/pull")
        let access: (reference: String, authFile: URL?, tlsVerify: Bool?, registryId: String?)
        do {
            guard let registries else { throw SecretBoxError("no registry service") }
            access = try await registries.access(for: image, scratch: scratch)
        } catch {
            await fail(blockId, type: .imagePullFailed, "cannot pull \(image.image): \(error)")
            return nil
        }
        defer { if let file = access.authFile { try? FileManager.default.removeItem(at: file) } }
        let from = access.registryId.map { " from registry \($0)" } ?? ""
        await record(blockId, event: BlockEvent(type: .imagePull, message: "pulling \(access.reference)\(from) with \(engine.kind.rawValue)")) { _, _ in }
        let logPath = logFile(blockId, "pull").path
        try? FileManager.default.createDirectory(at: URL(fileURLWithPath: logPath).deletingLastPathComponent(), withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: logPath, contents: nil)
        let registry = self.registry
        let ending = await engine.pull(image: access.reference, authFile: access.authFile?.path, tlsVerify: access.tlsVerify,
                                       logPath: logPath, timeout: configuration.pullTimeout) { line in
            // The engine's progress: one event per blob and for the manifest.
            guard line.hasPrefix("Copying ") || line.hasPrefix("Writing manifest") || line.hasPrefix("Trying to pull") else { return }
            let event = BlockEvent(type: .imagePullProgress, message: String(line.prefix(200)))
            try? await registry.transition(blockId: blockId) { block, _ in BlockTransition(block: block, events: [event]) }
        }
        if Task.isCancelled { return nil }
        guard ending == .exited(0) else {
            // The engine's final error says it all; its retries before it repeat it.
            let tail = LogTail.read(logPath, lines: 6).filter { !$0.hasPrefix("Copying ") }
            let output = tail.last { $0.hasPrefix("Error:") || $0.hasPrefix("Error response") } ?? tail.joined(separator: " | ")
            if await engine.hasImage(access.reference) {
                // The registry is out of reach (or refuses) but the image is here: run it, and say so.
                await record(blockId, event: BlockEvent(type: .imagePullFailed, message: "cannot pull \(access.reference)\(from) (\(output)); running the local copy")) { _, _ in }
                return access.reference
            }
            var reason = "cannot pull \(access.reference)\(from): " + (output.isEmpty ? "\(ending)" : output)
            let lowered = output.lowercased()
            if lowered.contains("unauthorized") || lowered.contains("authentication required") || lowered.contains("invalid username/password") {
                reason += " (the registry refused the credentials" + (access.registryId.map { " of \($0): update them with POST /api/registries" } ?? ": register it with POST /api/registries") + ")"
            }
            await fail(blockId, type: .imagePullFailed, reason)
            return nil
        }
        await record(blockId, event: BlockEvent(type: .imagePulled, message: "\(access.reference) pulled")) { _, _ in }
        return access.reference
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

    private func opened(_ object: [String: JSONValue]) throws -> [String: JSONValue] {
        try configuration.secrets?.opened(object) ?? object
    }

    /// Writes the instance's `AIOS_BLOCK_FILE`: its block data, settings, parameters, policies and allocation.
    @discardableResult
    private func writeBlockFile(_ block: BlockRecord, placement: BlockPlacement.Instance) throws -> URL {
        let blockDirectory = configuration.dataDirectory.appendingPathComponent("instances/\(block.blockId)")
        try FileManager.default.createDirectory(at: blockDirectory, withIntermediateDirectories: true)
        let clusterId = block.placement.clusterId ?? ""
        let blockFile: JSONValue = [
            "blockId": .string(block.blockId), "instanceId": .string(placement.instanceId),
            "componentURI": .string(block.componentURI.description),
            "blockInitData": .object(try opened(block.resolved.blockInitData)), "initSettings": .object(try opened(block.resolved.initSettings)),
            "parameters": .object(block.resolved.parameters), "policies": .object(block.resolved.policies),
            "allocation": ["clusterId": .string(clusterId), "nodeId": .string(placement.nodeId), "gpus": .array(placement.gpus.map(JSONValue.string))],
            "simulated": .bool(clusterId != ControlPlane.localClusterId),
        ]
        let path = blockDirectory.appendingPathComponent("\(placement.instanceId).json")
        try blockFile.jsonData(pretty: true).write(to: path, options: .atomic)
        return path
    }

    /// After the block's stored parameters changed: rewrites its instances' block files, so an instance
    /// that restarts starts with the new parameters.
    func refreshBlockFiles(blockId: String) async {
        do {
            guard let block = try await registry.block(id: blockId) else { return }
            for placement in block.placement.instances { try writeBlockFile(block, placement: placement) }
        } catch {
            logger.error("cannot rewrite the block's instance files", metadata: ["blockId": "\(blockId)", "error": "\(error)"])
        }
    }
}

extension Array where Element == InstanceRecord {
    mutating func update(_ instanceId: String, _ change: (inout InstanceRecord) -> Void) {
        if let index = firstIndex(where: { $0.instanceId == instanceId }) { change(&self[index]) }
    }
}
