import AIOSModel
import AIOSRuntime
import AIOSStore
import Foundation
import Logging

/// Deploys and tears down the third-party systems of `third_party` components with their init programs
/// (AIOS's init containers, run here as processes).
///
/// After placement the block is `Initializing` while the program runs in mode `create`; each stage it
/// reports becomes a block event; what its `finish` returns is stored as `blockInitData.initContainer`, and
/// only then do the instances start (and read it). A failed or timed-out `create` runs the program in mode
/// `remove` to clean up, releases the block's reservations and turns it `Failed` with the program's message.
/// On removal the program runs in mode `remove` before the block is deleted; a running `create` is stopped
/// first.
public actor ThirdPartyDeployer {
    public struct Configuration: Sendable {
        public var dataDirectory: URL
        /// Seconds between the graceful and the forced stop of a run.
        public var grace: Double = 5
        /// Opens the block's secrets for the init program, and seals the secrets in its result.
        public var secrets: BlockSecrets?

        public init(dataDirectory: URL, secrets: BlockSecrets? = nil) {
            self.dataDirectory = dataDirectory
            self.secrets = secrets
        }
    }

    /// The init program failed in mode `remove`: the block is kept so nothing is left undeployed unknowingly.
    public struct TeardownFailure: Error, CustomStringConvertible {
        public var description: String
    }

    private let registry: any Registry
    private let instances: InstanceManager
    private let configuration: Configuration
    private let logger: Logger
    /// Running `create` runs (and the instance start after them), by block.
    private var deployments: [String: Task<JSONValue?, Never>] = [:]
    /// Running teardowns, by block: a second removal joins the first.
    private var teardowns: [String: Task<String?, Never>] = [:]

    public init(registry: any Registry, instances: InstanceManager, configuration: Configuration, logger: Logger) {
        self.registry = registry
        self.instances = instances
        self.configuration = configuration
        self.logger = logger
    }

    // MARK: Deploy

    /// Moves the placed block to `Initializing` and starts its init program in mode `create`; returns the
    /// block as stored. With `cleanFirst` (a `create` that a restart of `aios up` interrupted) the program
    /// runs in mode `remove` before.
    public func deploy(_ block: BlockRecord, spec: InitContainerSpec, cleanFirst: Bool = false) async throws -> BlockRecord {
        guard spec.command != nil else {
            let reason = "the init container runs the OCI image \(spec.image ?? "?"), and this platform has no OCI runtime yet; give initContainer a process \"command\""
            return try await fail(block.blockId, reason: reason, type: .initFailed)
        }
        let log = logFile(block.blockId).path
        let initializing = try await registry.transition(blockId: block.blockId) { block, _ in
            guard block.phase != .deleting else { throw BlockRemovedMeanwhile(blockId: block.blockId) }
            var block = block
            block.phase = .initializing
            block.reason = "the init program is deploying the third-party system"
            return BlockTransition(block: block, events: [BlockEvent(
                type: .initStarted,
                message: "running the init program (create): \(spec.command?.joined(separator: " ") ?? ""); its log: \(log)")])
        }.block
        let blockId = block.blockId
        deployments[blockId] = Task { await self.runCreate(initializing, spec: spec, cleanFirst: cleanFirst) }
        return initializing
    }

    /// Runs `create` (after `remove` when `cleanFirst`), then records the result and starts the instances.
    /// Returns what `finish` returned, or `nil` when `create` did not succeed.
    private func runCreate(_ block: BlockRecord, spec: InitContainerSpec, cleanFirst: Bool) async -> JSONValue? {
        let blockId = block.blockId
        defer { deployments[blockId] = nil }
        if cleanFirst {
            _ = await run(.remove, block: block, spec: spec, createResult: nil)
            if Task.isCancelled { return nil }
        }
        let outcome = await run(.create, block: block, spec: spec, createResult: nil)
        if let failure = outcome.failure {
            // Stopped by a removal (which cleans up) or a shutdown (the next start cleans up): nothing to record.
            if outcome.ending == .cancelled || Task.isCancelled { return nil }
            logger.error("init program failed; cleaning up", metadata: ["blockId": "\(blockId)", "failure": "\(failure)"])
            let cleanup = await run(.remove, block: block, spec: spec, createResult: nil)
            if Task.isCancelled { return nil }
            let cleaned = cleanup.failure.map { "; its cleanup (mode remove) failed too: \($0)" } ?? "; its cleanup (mode remove) ran"
            do {
                _ = try await fail(blockId, reason: "the init program failed (create): \(failure)\(cleaned)", type: .initFailed)
            } catch {
                logger.error("cannot record the init program's failure", metadata: ["blockId": "\(blockId)", "error": "\(error)"])
            }
            return nil
        }
        let result = sealed(outcome.finishPayload ?? .null, blockId: blockId)
        let started: BlockRecord
        do {
            started = try await registry.transition(blockId: blockId) { block, _ in
                guard block.phase == .initializing else { throw BlockRemovedMeanwhile(blockId: blockId) }
                var block = block
                block.resolved.blockInitData["initContainer"] = result
                block.phase = .starting
                block.reason = nil
                return BlockTransition(block: block, events: [BlockEvent(
                    type: .initCompleted, message: "the third-party system is deployed; blockInitData.initContainer = \(SecretValues.redacted(result).jsonString())")])
            }.block
        } catch is BlockRemovedMeanwhile {
            return result  // being removed: the removal tears the system down, with this result
        } catch RegistryError.notFound {
            return result  // removed meanwhile: the removal tears the system down, with this result
        } catch {
            logger.error("cannot record the deployed third-party system; the block stays Initializing and the next start deploys it again",
                         metadata: ["blockId": "\(blockId)", "error": "\(error)"])
            return result
        }
        logger.info("third-party system deployed", metadata: ["blockId": "\(blockId)", "result": "\(result.jsonString())"])
        await instances.start(started)
        return result
    }

    // MARK: Teardown

    /// Stops a running `create`, then runs the program in mode `remove` when a `create` ever ran for the
    /// block. Throws when `remove` fails (unless `force`), so the caller keeps the block. A teardown already
    /// running for the block is joined, not repeated.
    public func teardown(_ block: BlockRecord, spec: InitContainerSpec, force: Bool) async throws {
        let blockId = block.blockId
        if let running = teardowns[blockId] {
            if let failure = await running.value, !force { throw TeardownFailure(description: failure) }
            return
        }
        let task = Task { await self.tearDown(block, spec: spec, force: force) }
        teardowns[blockId] = task
        let failure = await task.value
        teardowns[blockId] = nil
        if let failure, !force { throw TeardownFailure(description: failure) }
    }

    /// The teardown itself; returns why `remove` failed, if it did.
    private func tearDown(_ block: BlockRecord, spec: InitContainerSpec, force: Bool) async -> String? {
        var createResult = block.resolved.blockInitData["initContainer"]
        if let running = deployments[block.blockId] {
            running.cancel()
            if let result = await running.value { createResult = result }
        }
        guard spec.command != nil, FileManager.default.fileExists(atPath: stateDirectory(block.blockId).path) else { return nil }
        let outcome = await run(.remove, block: block, spec: spec, createResult: createResult)
        if let failure = outcome.failure {
            guard force else { return "the init program failed (remove): \(failure)" }
            logger.warning("init program failed in mode remove; removing the block anyway (force)", metadata: [
                "blockId": "\(block.blockId)", "failure": "\(failure)",
            ])
        }
        try? FileManager.default.removeItem(at: stateDirectory(block.blockId).deletingLastPathComponent())
        return nil
    }

    /// `aios up` is stopping: running `create` runs get SIGTERM (then SIGKILL after the grace period) and are
    /// waited for. Their blocks stay `Initializing`; the next start cleans up (mode `remove`) and deploys again.
    public func shutdown() async {
        let running = Array(deployments.values)
        for task in running { task.cancel() }
        for task in running { _ = await task.value }
    }

    // MARK: Running the program

    enum Mode: String {
        case create
        case remove
    }

    private func run(_ mode: Mode, block: BlockRecord, spec: InitContainerSpec, createResult: JSONValue?) async -> InitRunOutcome {
        let blockId = block.blockId
        let logPath = logFile(blockId)
        let state = stateDirectory(blockId)
        let environment: [String: String], driver: any InstanceDriver
        do {
            try FileManager.default.createDirectory(at: state, withIntermediateDirectories: true)
            try FileManager.default.createDirectory(at: logPath.deletingLastPathComponent(), withIntermediateDirectories: true)
            if !FileManager.default.fileExists(atPath: logPath.path) { _ = FileManager.default.createFile(atPath: logPath.path, contents: nil) }
            driver = try await self.driver(for: block)
            environment = try await self.environment(mode, block: block, spec: spec, createResult: createResult, simulated: !driver.runsOnRealGPUs)
        } catch {
            let outcome = InitRunOutcome(ending: .notStarted("cannot prepare its files: \(error)"), stages: [])
            await event(blockId, .initFailed, "\(mode.rawValue): \(outcome.failure ?? "")")
            return outcome
        }
        // A run an earlier `aios up` (of a version that kept its run file with the block) left behind must not race this one.
        await stopLeftoverRun(blockId)
        logger.info("running init program", metadata: ["blockId": "\(blockId)", "mode": "\(mode.rawValue)", "driver": "\(driver.name)"])
        let registry = self.registry, logger = self.logger
        // An init program runs as its command where the cluster's driver runs commands, else as its image.
        let workload: InstanceWorkload = if let image = spec.image, spec.command == nil || driver.refusal(for: .command) != nil {
            .image(image)
        } else {
            .command(spec.command ?? [], cwd: spec.cwd)
        }
        let job = JobLaunch(name: "init-\(blockId)", workload: workload, clusterId: block.placement.clusterId, environment: environment,
                            logPath: logPath.path, timeout: mode == .create ? spec.createTimeout : spec.removeTimeout, grace: configuration.grace,
                            mounts: [state.path])
        let outcome = await InitProgramRunner.run(job, on: driver) { report in
            let message = "\(mode.rawValue): \(report.stage) " + (report.ok ? "ok" : "failed: \(report.message)")
            logger.info("init stage", metadata: ["blockId": "\(blockId)", "mode": "\(mode.rawValue)", "stage": "\(report.stage)", "ok": "\(report.ok)"])
            await Self.event(registry: registry, logger: logger, blockId, .initStage, message)
        }
        if mode == .remove {
            await event(blockId, outcome.succeeded ? .initRemoved : .initFailed,
                        outcome.failure.map { "remove: \($0)" } ?? "remove: the third-party system is torn down")
        }
        return outcome
    }

    /// The init program's environment: the contract of `python/aios_init`, plus the variables AIOS's SDK read.
    private func environment(_ mode: Mode, block: BlockRecord, spec: InitContainerSpec, createResult: JSONValue?, simulated: Bool) async throws -> [String: String] {
        let clusterId = block.placement.clusterId ?? ""
        let cluster = try await registry.cluster(id: clusterId)
        let first = block.placement.instances.first
        let allocation: JSONValue = [
            "clusterId": .string(clusterId), "nodeId": .string(first?.nodeId ?? ""),
            "gpus": .array((first?.gpus ?? []).map(JSONValue.string)),
            "instances": .array(block.placement.instances.map {
                ["instanceId": .string($0.instanceId), "nodeId": .string($0.nodeId), "gpus": .array($0.gpus.map(JSONValue.string))]
            }),
        ]
        var blockInitData = block.resolved.blockInitData
        blockInitData["initContainer"] = nil
        let blockFile: JSONValue = [
            "blockId": .string(block.blockId), "componentURI": .string(block.componentURI.description),
            "blockInitData": try opened(.object(blockInitData)), "initSettings": try opened(.object(block.resolved.initSettings)),
            "parameters": .object(block.resolved.parameters), "policies": .object(block.resolved.policies),
            "allocation": allocation, "cluster": cluster?.assembled ?? .null,
            "simulated": .bool(simulated),
        ]
        let blockFilePath = stateDirectory(block.blockId).deletingLastPathComponent().appendingPathComponent("block.json")
        try blockFile.jsonData(pretty: true).write(to: blockFilePath, options: .atomic)

        var environment = spec.environment
        let gpus = (first?.gpus ?? []).joined(separator: ",")
        environment.merge([
            "AIOS_INIT_MODE": mode.rawValue,
            "AIOS_BLOCK_ID": block.blockId,
            "AIOS_CLUSTER_ID": clusterId,
            "AIOS_BLOCK_FILE": blockFilePath.path,
            "AIOS_INIT_STATE_DIR": stateDirectory(block.blockId).path,
            "CUDA_VISIBLE_DEVICES": gpus,
            "NVIDIA_VISIBLE_DEVICES": gpus.isEmpty ? "void" : gpus,
            // AIOS's init-container SDK read these.
            "BLOCK_ID": block.blockId,
            "CLUSTER_ID": clusterId,
            "OPERATING_MODE": mode.rawValue,
            "ALLOCATION_DATA": (["data": allocation] as JSONValue).jsonString(),
        ]) { _, aios in aios }
        if mode == .remove, let createResult, createResult != .null {
            environment["AIOS_INIT_RESULT"] = try opened(createResult).jsonString()
        }
        return environment
    }

    /// The init program's result with its secret-named values sealed (it may hand the instances an API key).
    private func sealed(_ result: JSONValue, blockId: String) -> JSONValue {
        guard let object = result.objectValue, let secrets = configuration.secrets else { return result }
        do {
            return .object(try secrets.sealed(object))
        } catch {
            logger.error("cannot seal the init program's result", metadata: ["blockId": "\(blockId)", "error": "\(error)"])
            return result
        }
    }

    private func opened(_ value: JSONValue) throws -> JSONValue {
        try configuration.secrets?.opened(value) ?? value
    }

    /// The driver of the block's cluster: its init program runs there as a job.
    private func driver(for block: BlockRecord) async throws -> any InstanceDriver {
        let clusterId = block.placement.clusterId ?? ""
        guard let cluster = try await registry.cluster(id: clusterId) else { throw DriverError("cluster \(clusterId) is not registered") }
        return try instances.drivers.driver(for: cluster).get()
    }

    // MARK: Files and records

    /// The pid and start time of the init program running for a block, while it runs.
    private nonisolated func runFile(_ blockId: String) -> RunFile {
        RunFile(url: configuration.dataDirectory.appendingPathComponent("init/\(blockId)/run.json"))
    }

    /// Stops an init program an earlier `aios up` started and did not see finish (matched by pid and start
    /// time, so a reused pid is never signalled).
    private func stopLeftoverRun(_ blockId: String) async {
        if let record = await runFile(blockId).stopLeftover(grace: configuration.grace) {
            logger.notice("stopped an init program left by an earlier run", metadata: [
                "blockId": "\(blockId)", "pid": "\(record["pid"]?.intValue ?? 0)", "mode": "\(record["mode"]?.stringValue ?? "?")",
            ])
        }
    }

    /// Kept between the `create` and the `remove` run of a block; it exists once a `create` was started.
    private nonisolated func stateDirectory(_ blockId: String) -> URL {
        configuration.dataDirectory.appendingPathComponent("init/\(blockId)/state")
    }

    public nonisolated func logFile(_ blockId: String) -> URL {
        configuration.dataDirectory.appendingPathComponent("logs/\(blockId)/init.log")
    }

    private func fail(_ blockId: String, reason: String, type: BlockEventType) async throws -> BlockRecord {
        try await registry.transition(blockId: blockId) { block, _ in
            guard block.phase != .deleting else { return BlockTransition(block: block, events: []) }
            var block = block
            let released = block.placement.instances.map(\.instanceId)
            block.phase = .failed
            block.reason = reason
            block.placement.instances = []
            return BlockTransition(block: block, events: [BlockEvent(type: type, message: reason)], releasedInstances: released)
        }.block
    }

    private func event(_ blockId: String, _ type: BlockEventType, _ message: String) async {
        await Self.event(registry: registry, logger: logger, blockId, type, message)
    }

    private static func event(registry: any Registry, logger: Logger, _ blockId: String, _ type: BlockEventType, _ message: String) async {
        do {
            _ = try await registry.transition(blockId: blockId) { block, _ in
                BlockTransition(block: block, events: [BlockEvent(type: type, message: message)])
            }
        } catch RegistryError.notFound {
            // Deleted meanwhile.
        } catch {
            logger.error("cannot record a block event", metadata: ["blockId": "\(blockId)", "error": "\(error)"])
        }
    }
}
