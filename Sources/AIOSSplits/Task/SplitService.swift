import AIOSBlock
import AIOSGateway
import AIOSMetrics
import AIOSModel
import AIOSRuntime
import AIOSStore
import AIOSVDAG
import AIOSWire
import Foundation
import Logging
import Synchronization

/// Split tasks (`POST /api/splits`, `docs/model-plan.md`): runs the splitter, keeps the validated plan and
/// its artifacts, and deploys a plan as blocks, a vDAG and a controller. Deployed controllers generate text
/// for the OpenAI front (`TextGenerators`).
public actor SplitService: TextGenerators {
    public struct Configuration: Sendable {
        public var dataDirectory: URL
        /// Where models may be read from (`aios up --model-dir`); artifacts of the store are allowed too.
        public var modelDirectories: [String] = []
        /// How long `deploy` waits for the split blocks to be ready by default.
        public var readyTimeout: Double = 180

        public init(dataDirectory: URL, modelDirectories: [String] = [], readyTimeout: Double = 180) {
            self.dataDirectory = dataDirectory
            self.modelDirectories = modelDirectories
            self.readyTimeout = readyTimeout
        }
    }

    public let registry: any Registry
    public let blocks: any SplitBlocks
    public let metrics: LiveMetrics
    /// Runs splitters (they read the model file on this machine).
    public let splitterDriver: any InstanceDriver
    public let vdags: VDAGService
    public let executors: Executors
    public let configuration: Configuration
    public let artifacts: ArtifactStore
    public let logger: Logger
    private var running: [String: Task<Void, Never>] = [:]
    private var deploying: Set<String> = []
    private var shuttingDown = false
    /// Controller id → the split blocks it chains (for dropping a session's KV caches). Read by every chat
    /// request, so outside the actor: a long ingest never holds up inference.
    private nonisolated let generators = Mutex<[String: [String]]>([:])
    /// Where the HTTP API serves (artifact URLs handed to the split blocks); set once the server listens.
    private var apiURL: String?
    /// Signs the artifact URLs handed to split blocks (they hold no platform token).
    private var artifactSigner: ArtifactURLSigner?

    public init(registry: any Registry, blocks: any SplitBlocks, metrics: LiveMetrics, splitterDriver: any InstanceDriver, vdags: VDAGService, executors: Executors,
         configuration: Configuration, logger: Logger) throws {
        self.registry = registry
        self.blocks = blocks
        self.metrics = metrics
        self.splitterDriver = splitterDriver
        self.vdags = vdags
        self.executors = executors
        self.configuration = configuration
        self.artifacts = try ArtifactStore(directory: configuration.dataDirectory.appendingPathComponent("artifacts"))
        self.logger = logger
    }

    private nonisolated var tasksDirectory: URL { configuration.dataDirectory.appendingPathComponent("splits") }

    public func serving(at url: String, artifacts: ArtifactURLSigner) {
        apiURL = url
        artifactSigner = artifacts
    }

    /// After a restart: tasks that were running are failed (their splitter died with the platform), and
    /// the deployed plans' controllers generate again.
    public func resume() async throws {
        for var task in try await registry.splitTasks() {
            if !task.status.isFinished {
                // A splitter the crashed platform left running is stopped first.
                if let record = await runFile(task.id).stopLeftover(grace: 5) {
                    logger.notice("stopped a splitter left by an earlier run", metadata: ["taskId": "\(task.id)", "pid": "\(record["pid"]?.intValue ?? 0)"])
                }
                task.status = .failed
                task.error = "interrupted: the platform stopped while the splitter ran; create the task again"
                task.message = task.error ?? ""
                task.updatedAt = Date()
                try await registry.putSplitTask(task)
                try? FileManager.default.removeItem(at: outputDirectory(task.id))
                logger.warning("split task interrupted", metadata: ["taskId": "\(task.id)"])
            }
            switch task.deployment {
            case let deployment? where deployment.state == .deploying:
                // The platform stopped halfway through a deploy: undo what it created, so it can be deployed again.
                await undo(blocks: deployment.blocks, vdagURI: deployment.vdagURI, controllerId: deployment.controllerId,
                           clusterId: deployment.clusterId)
                task.deployment = nil
                task.updatedAt = Date()
                try await registry.putSplitTask(task)
                logger.warning("an interrupted deploy was undone", metadata: ["taskId": "\(task.id)"])
            case let deployment?:
                generators.withLock { $0[deployment.controllerId] = deployment.blocks }
            case nil:
                break
            }
        }
    }

    public func shutdown() async {
        shuttingDown = true
        let tasks = Array(running.values)
        running.removeAll()
        for task in tasks { task.cancel() }
        for task in tasks { await task.value }
    }

    // MARK: Tasks

    public func create(_ document: JSONValue) async throws -> JSONValue {
        guard !shuttingDown else { throw APIError(.conflict, "aios is shutting down") }
        let request = try SplitRequest(document: document)
        // The task shows the model as given; only the splitter gets the file it resolves to (an artifact's
        // place in the data directory included).
        var resolved = request
        resolved.model = try ModelDirectories(configuration.modelDirectories).file(for: request.model, artifacts: artifacts)
        let targets = try await targetNodes(for: request)
        let task = SplitTaskRecord(message: "waiting to start", request: request.taskData(targets: targets))
        try await registry.putSplitTask(task)
        logger.info("split task created", metadata: ["taskId": "\(task.id)", "model": "\(resolved.model)", "splits": "\(task.request["splits"]?.jsonString() ?? "")"])
        running[task.id] = Task { await self.run(task, request: resolved) }
        return ["success": true, "task_id": .string(task.id), "status": .string(task.status.rawValue)]
    }

    /// The nodes a `balanced` split is sized for: as given, or each node of `clusterId` with fresh metrics and
    /// the free memory a split would use there (the largest free GPU when splits ask for GPUs, else host memory).
    private func targetNodes(for request: SplitRequest) async throws -> [SplitRequest.TargetNode] {
        guard request.targetNodes.isEmpty, request.strategy == .balanced, let clusterId = request.clusterId else { return request.targetNodes }
        guard try await registry.cluster(id: clusterId) != nil else {
            throw APIError.validation([FieldError(path: "clusterId", message: "no such cluster \"\(clusterId)\"")])
        }
        let now = Date()
        let samples = await metrics.samples(clusterId: clusterId).filter { now.timeIntervalSince($0.receivedAt) <= metrics.ttl }
        let targets = samples.map { sample in
            let free = request.gpus > 0 ? (sample.metrics.gpus.map(\.freeMem).max() ?? 0) : sample.metrics.memoryFree
            return SplitRequest.TargetNode(clusterId: clusterId, nodeId: sample.nodeId, freeMemoryMB: free)
        }.filter { $0.freeMemoryMB > 0 }
        guard !targets.isEmpty else {
            throw APIError.validation([FieldError(path: "clusterId", message: "cluster \"\(clusterId)\" has no node with fresh metrics and free \(request.gpus > 0 ? "GPU " : "")memory to size the splits for")])
        }
        return targets
    }

    private func outputDirectory(_ taskId: String) -> URL {
        tasksDirectory.appendingPathComponent(taskId).appendingPathComponent("out")
    }

    private nonisolated func logPath(_ taskId: String) -> String {
        tasksDirectory.appendingPathComponent(taskId).appendingPathComponent("splitter.log").path
    }

    /// The splitter's pid and start time while it runs.
    private nonisolated func runFile(_ taskId: String) -> RunFile {
        RunFile(url: tasksDirectory.appendingPathComponent(taskId).appendingPathComponent("run.json"))
    }

    private func run(_ initial: SplitTaskRecord, request: SplitRequest) async {
        var task = initial
        defer { running[task.id] = nil }
        let output = outputDirectory(task.id)
        do {
            try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true)
        } catch {
            await finish(&task, failure: "cannot create the output directory \(output.path): \(error)")
            return
        }
        var environment: [String: String] = [:]
        let command: [String], cwd: String
        switch request.splitter {
        case .builtIn(let name):
            command = ["python3", "-m", "aios_splits." + name.replacingOccurrences(of: "-", with: "_")]
            cwd = configuration.dataDirectory.path
        case .program(let programCommand, let programCwd, let extra):
            command = programCommand
            cwd = programCwd
            environment.merge(extra) { _, new in new }
        }
        environment["TASK_ID"] = task.id
        var taskData = task.request
        taskData["model"] = .string(request.model)
        environment["TASK_DATA"] = JSONValue.object(taskData).jsonString()
        environment["AIOS_SPLIT_OUTPUT_DIR"] = output.path
        task.status = .running
        task.message = "splitter started: \(command.joined(separator: " "))"
        task.updatedAt = Date()
        await save(task)
        logger.info("splitter started", metadata: ["taskId": "\(task.id)", "command": "\(command.joined(separator: " "))"])

        let progress = ProgressBox()
        let taskId = task.id
        // The splitter is a job of this machine's driver (it reads the model file here).
        let driver = splitterDriver
        let job = JobLaunch(name: "split-\(task.id)", workload: .command(command, cwd: cwd), environment: environment,
                            logPath: logPath(task.id), timeout: request.timeout, mounts: [output.path])
        let ending = await driver.runJob(job) { line in
            guard let report = SplitterReport(line: line) else { return }
            if let update = progress.apply(report) { await self.progressed(taskId, update) }
        }
        task = (try? await registry.splitTask(id: task.id)) ?? task
        switch ending {
        case .exited(0):
            do {
                let artifacts = self.artifacts
                // Hashing gigabytes takes a while: off the actor.
                let plan = try await Task.detached { try Self.ingest(output: output, artifacts: artifacts) }.value
                task.plan = plan.storingArtifacts()
                task.status = .complete
                task.progress = 1
                task.message = "plan ready: \(plan.splits.count) splits of \(plan.model.name) (\(plan.model.layers) layers)"
                task.updatedAt = Date()
                await save(task)
                logger.info("split task complete", metadata: ["taskId": "\(task.id)", "splits": "\(plan.splits.count)"])
            } catch let error as APIError {
                await finish(&task, failure: "the splitter's plan is invalid: " + error.fields.map(\.description).joined(separator: "; "))
            } catch {
                await finish(&task, failure: "\(error)")
            }
        case .exited(let status):
            if let failed = progress.failedStage {
                await finish(&task, failure: "stage \(failed.stage) failed: \(failed.message) (exit status \(status))")
            } else {
                await finish(&task, failure: "the splitter exited with status \(status)" + tailOfLog(task.id))
            }
        case .timedOut(let seconds):
            await finish(&task, failure: "the splitter did not finish within \(seconds.formatted) s (timeout_s) and was stopped")
        case .cancelled:
            await finish(&task, failure: "interrupted: the platform stopped while the splitter ran; create the task again")
        case .notStarted(let reason):
            await finish(&task, failure: "the splitter could not start (\(command.joined(separator: " "))): \(reason)")
        }
        try? FileManager.default.removeItem(at: output)
    }

    /// Reads and checks `plan.json` and every artifact it names (size, digest, a regular file), then stores
    /// them all: a plan with one bad artifact stores none.
    private nonisolated static func ingest(output: URL, artifacts: ArtifactStore) throws -> ModelPlan {
        let planFile = output.appendingPathComponent("plan.json")
        guard let data = FileManager.default.contents(atPath: planFile.path) else {
            throw ArtifactError("the splitter exited 0 without writing plan.json in AIOS_SPLIT_OUTPUT_DIR")
        }
        guard let document = JSONValue.decodeJSON(data) else { throw ArtifactError("plan.json is not JSON") }
        let plan = try ModelPlan(document: document)
        var verified: [(URL, String)] = []
        for split in plan.splits {
            guard let file = split.artifact.file else {
                if artifacts.file(sha256: split.artifact.sha256) != nil { continue }
                throw ArtifactError("split \(split.splitId)'s artifact names no file, and the store has no artifact \(split.artifact.sha256)")
            }
            let url = output.appendingPathComponent(file)
            do {
                try artifacts.verify(url, sha256: split.artifact.sha256, size: split.artifact.size)
            } catch {
                throw ArtifactError("split \(split.splitId)'s artifact: \(error)")
            }
            verified.append((url, split.artifact.sha256))
        }
        for (url, sha256) in verified { try artifacts.store(url, sha256: sha256) }
        return plan
    }

    private nonisolated func tailOfLog(_ taskId: String) -> String {
        guard let text = try? String(contentsOfFile: logPath(taskId), encoding: .utf8) else { return "" }
        let lines = text.split(separator: "\n").filter { !$0.hasPrefix(SplitterReport.progressPrefix) }.suffix(6)
        return lines.isEmpty ? "" : ": " + lines.joined(separator: " | ")
    }

    private func progressed(_ taskId: String, _ update: (progress: Double, message: String)) async {
        guard var task = try? await registry.splitTask(id: taskId), !task.status.isFinished else { return }
        task.progress = update.progress
        task.message = update.message
        task.updatedAt = Date()
        await save(task)
    }

    private func finish(_ task: inout SplitTaskRecord, failure: String) async {
        task.status = .failed
        task.error = failure
        task.message = failure
        task.updatedAt = Date()
        await save(task)
        logger.error("split task failed", metadata: ["taskId": "\(task.id)", "error": "\(failure)"])
    }

    private func save(_ task: SplitTaskRecord) async {
        do {
            try await registry.putSplitTask(task)
        } catch {
            logger.error("cannot store split task", metadata: ["taskId": "\(task.id)", "error": "\(error)"])
        }
    }

    // MARK: Reads

    public func status(_ id: String) async throws -> JSONValue {
        Self.view(try await existing(id))
    }

    public func list() async throws -> JSONValue {
        .array(try await registry.splitTasks().map(Self.view))
    }

    public nonisolated func logs(_ id: String, offset: Int?, tail: Int) async throws -> JSONValue {
        _ = try await existing(id)
        let text = (try? String(contentsOfFile: logPath(id), encoding: .utf8)) ?? ""
        let bytes = Array(text.utf8)
        if let offset {
            let start = min(offset, bytes.count)
            return ["task_id": .string(id), "offset": .number(Double(bytes.count)), "text": .string(String(decoding: bytes[start...], as: UTF8.self))]
        }
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).suffix(tail + 1)
        return ["task_id": .string(id), "offset": .number(Double(bytes.count)), "text": .string(lines.joined(separator: "\n"))]
    }

    public nonisolated func artifactFile(_ sha256: String) -> URL? {
        artifacts.file(sha256: sha256)
    }

    private nonisolated func existing(_ id: String) async throws -> SplitTaskRecord {
        guard let task = try await registry.splitTask(id: id) else {
            throw APIError(.notFound, "split task \"\(id)\" does not exist")
        }
        return task
    }

    public static func view(_ task: SplitTaskRecord) -> JSONValue {
        [
            "task_id": .string(task.id), "status": .string(task.status.rawValue), "progress": .number(task.progress),
            "message": .string(task.message), "error": task.error.map(JSONValue.string) ?? .null,
            "request": .object(task.request), "plan": task.plan, "deployment": task.deployment?.json ?? .null,
            "created": JSONValue.time(task.createdAt), "updated": JSONValue.time(task.updatedAt),
        ]
    }

    // MARK: Deploy

    /// Creates the plan's blocks (each with its `layers` and `artifact`), waits until they serve, then the
    /// vDAG and a controller. What it is about to create is recorded first (`deployment.state` `deploying`),
    /// so a failure, or a restart halfway, undoes exactly that; the error names the split.
    public func deploy(_ id: String, _ document: JSONValue) async throws -> JSONValue {
        guard !deploying.contains(id) else { throw APIError(.conflict, "split task \(id) is being deployed") }
        deploying.insert(id)
        defer { deploying.remove(id) }
        guard !shuttingDown else { throw APIError(.conflict, "aios is shutting down") }
        let body = document.objectValue ?? [:]
        var reader = FieldReader()
        let controllerId = reader.string(body, "controllerId", at: .root)
        if let controllerId, let problem = BlockID.problem(controllerId) { reader.fail(.root / "controllerId", problem) }
        let clusterId = reader.string(body, "clusterId", at: .root) ?? ClusterSpec.localId
        let wait = reader.number(body, "wait_s", at: .root, minimum: 0) ?? configuration.readyTimeout
        for key in body.keys.sorted() where !["controllerId", "clusterId", "wait_s"].contains(key) {
            reader.fail(.root / key, "unknown field; expected controllerId, clusterId or wait_s")
        }
        try reader.check()
        var task = try await existing(id)
        guard task.status == .complete else {
            throw APIError(.conflict, "split task \(id) is \(task.status.rawValue)" + (task.status == .failed ? " (\(task.error ?? "")): nothing to deploy" : ": deploy it once it is complete"))
        }
        if let deployment = task.deployment {
            throw APIError(.conflict, "split task \(id) is deployed already as controller \(deployment.controllerId)")
        }
        guard let apiURL else { throw APIError(.conflict, "the API is not serving yet") }
        let plan = try ModelPlan(document: task.plan)
        let controller = controllerId ?? plan.vdag.uri.name
        let blocks = plan.splits.map(\.block.blockId)
        try await checkFree(plan, controller: controller, clusterId: clusterId)

        task.deployment = SplitDeployment(state: .deploying, vdagURI: plan.vdag.uri.description, controllerId: controller,
                                          clusterId: clusterId, blocks: blocks)
        task.updatedAt = Date()
        try await registry.putSplitTask(task)
        var created: [String] = [], vdagCreated = false
        do {
            for (index, split) in plan.splits.enumerated() {
                created.append(split.block.blockId)
                let placed = try await createBlock(split, apiURL: apiURL)
                if placed["phase"]?.stringValue == BlockPhase.failed.rawValue {
                    throw APIError(.conflict, "split \(split.splitId) (layers \(split.layers.lowerBound)-\(split.layers.upperBound), \(split.memoryMB.formatted) MB) cannot be placed: \(placed["reason"]?.stringValue ?? "no node has room")",
                                   fields: [FieldError(path: "splits[\(index)]", message: placed["report"]?.jsonString() ?? "")])
                }
            }
            try await waitUntilServing(plan, timeout: wait)
            _ = try await vdags.create(plan.vdagDocument)
            vdagCreated = true
            _ = try await vdags.createController(id: controller, vdagURI: plan.vdag.uri.description, clusterId: clusterId)
        } catch {
            await undo(blocks: created, vdagURI: vdagCreated ? plan.vdag.uri.description : nil, controllerId: nil, clusterId: clusterId)
            task.deployment = nil
            task.updatedAt = Date()
            try? await registry.putSplitTask(task)
            throw error
        }
        task.deployment = SplitDeployment(state: .deployed, vdagURI: plan.vdag.uri.description, controllerId: controller,
                                          clusterId: clusterId, blocks: blocks, deployedAt: Date())
        task.updatedAt = Date()
        try await registry.putSplitTask(task)
        generators.withLock { $0[controller] = blocks }
        logger.info("split plan deployed", metadata: ["taskId": "\(id)", "controllerId": "\(controller)", "blocks": "\(blocks)"])
        var reply = task.deployment?.json.objectValue ?? [:]
        reply["success"] = true
        reply["task_id"] = .string(id)
        return .object(reply)
    }

    /// Nothing the deploy would create may exist already: it would otherwise fail halfway, or its undo would
    /// remove what is not its own.
    private func checkFree(_ plan: ModelPlan, controller: String, clusterId: String) async throws {
        var errors: [FieldError] = []
        guard try await registry.component(uri: plan.splits[0].block.componentURI.description) != nil else {
            throw APIError(.notFound, "the split runner component \(plan.splits[0].block.componentURI) is not registered; add it first (e.g. aios apply -f examples/llm-split/component.json)")
        }
        if try await registry.cluster(id: clusterId) == nil {
            errors.append(FieldError(path: "clusterId", message: "no such cluster \"\(clusterId)\" for the controller"))
        }
        for (index, split) in plan.splits.enumerated() where try await registry.block(id: split.block.blockId) != nil {
            errors.append(FieldError(path: "plan.splits[\(index)].block", message: "block \(split.block.blockId) exists already"))
        }
        if try await registry.vdag(uri: plan.vdag.uri.description) != nil {
            errors.append(FieldError(path: "plan.vdag", message: "vDAG \(plan.vdag.uri) exists already"))
        }
        if try await registry.vdagControllers().contains(where: { $0.id == controller }) {
            errors.append(FieldError(path: "controllerId", message: "vDAG controller \(controller) exists already; choose another controllerId"))
        }
        if !errors.isEmpty {
            throw APIError(.conflict, "the plan cannot be deployed: " + errors.map(\.description).joined(separator: "; "), fields: errors)
        }
    }

    private func createBlock(_ split: ModelPlan.Split, apiURL: String) async throws -> JSONValue {
        var values = split.block.values
        var initData = values["blockInitData"]?.objectValue ?? [:]
        var artifact = split.artifact.json.objectValue ?? [:]
        artifact["url"] = .string(apiURL + (artifactSigner?.signedPath(sha256: split.artifact.sha256) ?? PlanArtifact.uri(sha256: split.artifact.sha256)))
        initData["layers"] = [.number(Double(split.layers.lowerBound)), .number(Double(split.layers.upperBound))]
        initData["artifact"] = .object(artifact)
        values["blockInitData"] = .object(initData)
        return try await blocks.createBlock(values: values)
    }

    /// Waits until every split block is `Ready`; one that fails, or a timeout, is an error naming the split.
    private func waitUntilServing(_ plan: ModelPlan, timeout: Double) async throws {
        let deadline = Date().addingTimeInterval(timeout)
        for split in plan.splits {
            while true {
                let block = try await registry.block(id: split.block.blockId)
                switch block?.phase {
                case .ready?: break
                case .failed?, .deleting?, nil:
                    throw APIError(.conflict, "split \(split.splitId) (block \(split.block.blockId)) did not start: \(block?.reason ?? "removed")")
                default:
                    if Date() > deadline {
                        throw APIError(.conflict, "split \(split.splitId) (block \(split.block.blockId)) is not ready after \(timeout.formatted) s (phase \(block?.phase.rawValue ?? "?")): see aios logs block \(split.block.blockId)")
                    }
                    try await Task.sleep(for: .milliseconds(250))
                    continue
                }
                break
            }
        }
    }

    /// Removes what a deploy created: its controller, its vDAG and its blocks (forced: they hold no third-party
    /// system). Each step is attempted whatever the previous one did; failures are logged.
    private func undo(blocks: [String], vdagURI: String?, controllerId: String?, clusterId: String) async {
        if let controllerId {
            _ = try? await vdags.removeController(id: controllerId)
        }
        if let vdagURI { _ = try? await vdags.remove(uri: vdagURI) }
        for blockId in blocks.reversed() {
            do {
                try await self.blocks.removeBlock(id: blockId, force: true)
            } catch let error as APIError where error.code == .notFound {
                continue
            } catch {
                logger.error("cannot undo a split block", metadata: ["blockId": "\(blockId)", "error": "\(error)"])
            }
        }
    }

    // MARK: Generation

    public nonisolated func generator(for model: String) async -> (any TextGenerator)? {
        guard let blocks = generators.withLock({ $0[model] }), let controller = await vdags.controller(id: model) else { return nil }
        let executors = self.executors
        let logger = self.logger
        return SplitGenerator(
            logger: logger,
            step: { packet, timeout throws(InferenceError) in try await controller.infer(packet, clientTimeout: timeout) },
            release: { session in
                await withTaskGroup(of: Void.self) { group in
                    for blockId in blocks {
                        group.addTask {
                            let connections = executors.executor(for: blockId)?.connections(instanceId: nil) ?? []
                            let answers = await Management.manage(connections, action: "reset", data: ["session_id": .string(session)])
                            for answer in answers {
                                if case .failure(let error) = answer.result {
                                    logger.warning("cannot drop a generation's KV cache", metadata: ["blockId": "\(blockId)", "error": "\(error)"])
                                }
                            }
                        }
                    }
                }
            })
    }
}

/// The splitter's latest progress and the stage that failed, as its lines arrive.
public final class ProgressBox: Sendable {
    private let state = Mutex<(progress: Double, failedStage: (stage: String, message: String)?)>((0, nil))

    /// The new progress to store, if this report changes it.
    public func apply(_ report: SplitterReport) -> (progress: Double, message: String)? {
        switch report {
        case .progress(let value, let message):
            return state.withLock { state in
                state.progress = max(state.progress, value)
                return (state.progress, message)
            }
        case .stage(let stage, let ok, let message):
            if !ok { state.withLock { $0.failedStage = $0.failedStage ?? (stage, message) } }
            return ok ? nil : (state.withLock { $0.progress }, "stage \(stage) failed: \(message)")
        }
    }

    public var failedStage: (stage: String, message: String)? { state.withLock { $0.failedStage } }
}
