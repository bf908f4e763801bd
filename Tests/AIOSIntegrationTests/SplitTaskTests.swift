import AIOSModel
import Foundation
import XCTest

/// Model splitting end to end (`docs/model-plan.md`): a split task runs the built-in `layer-range` splitter
/// on SmolLM2's GGUF, the plan deploys as split blocks (the numpy runner of `examples/llm-split`, fetching its
/// artifact from the platform) chained as a vDAG, and the controller generates through
/// `/v1/chat/completions`, called with the official `openai` package.
final class SplitTaskTests: XCTestCase {
    private var directory: URL!
    private var platform: PlatformProcess!
    static let prompt = "What is the capital of France?"
    static let storyPrompt = "Write a short story about a robot who learns to paint."

    /// A model directory of the test's own (for made-up model files).
    private var models: URL { directory.appendingPathComponent("models") }

    override func setUp() async throws {
        directory = temporaryDirectory("splits")
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("models"), withIntermediateDirectories: true)
        // The platform reads models only from its model directories: SmolLM2's, and the test's own.
        platform = try PlatformProcess(dataDirectory: directory, arguments: Self.modelDirectoryArguments() + ["--model-dir", models.path])
    }

    /// `--model-dir` with the directory of SmolLM2's GGUF, when the venv has it.
    static func modelDirectoryArguments() -> [String] {
        guard let run = try? Command.run([Command.python, PlatformProcess.repositoryRoot.appendingPathComponent("examples/llm-init/llama_server.py").path, "model-path"]),
              run.status == 0 else { return [] }
        let path = run.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        return ["--model-dir", URL(fileURLWithPath: path).deletingLastPathComponent().path]
    }

    override func tearDown() async throws {
        platform?.stop()
        platform = nil
        try? FileManager.default.removeItem(at: directory)
    }

    static func modelPath() throws -> String {
        let run = try Command.run([Command.python, PlatformProcess.repositoryRoot.appendingPathComponent("examples/llm-init/llama_server.py").path, "model-path"])
        XCTAssertEqual(run.status, 0, run.stderr)
        return run.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @discardableResult
    private func aios(_ arguments: [String], expect status: Int32 = 0, timeout: TimeInterval = 120) throws -> Command.Run {
        let run = try Command.run([PlatformProcess.executable.path] + arguments + ["--server", platform.url], environment: platform.auth, timeout: timeout)
        XCTAssertEqual(run.status, status, "aios \(arguments.joined(separator: " ")): \(run.stdout) \(run.stderr)")
        return run
    }

    @discardableResult
    private func post(_ path: String, _ body: JSONValue, expect status: Int) async throws -> JSONValue {
        let reply = try await platform.post(path, json: body)
        XCTAssertEqual(reply.status, status, "\(path): \(reply.body.jsonString())")
        return reply.body
    }

    private func waitForTask(_ id: String, timeout: TimeInterval = 120) async throws -> JSONValue {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let task = try await platform.get("/api/splits/\(id)").body
            if ["complete", "failed"].contains(task["status"]?.stringValue ?? "") { return task }
            try await Task.sleep(for: .milliseconds(250))
        }
        throw PlatformError("split task \(id) did not end within \(timeout) s")
    }

    private func chat(_ model: String, maxTokens: Int, message: String = SplitTaskTests.prompt, stream: Bool = false,
                      timeout: TimeInterval = 120) throws -> JSONValue {
        try openAIChat(url: platform.url, model, maxTokens: maxTokens, message: message, stream: stream, timeout: timeout, auth: platform.auth)
    }

    /// The unsplit numpy model's greedy answer (the reference the split chain must reproduce token for token).
    private func reference(maxTokens: Int) throws -> String {
        let run = try Command.run([Command.python, "examples/llm-split/llama_numpy.py", Self.prompt, "--max-tokens", String(maxTokens)],
                                  environment: ["OPENBLAS_NUM_THREADS": "1"], timeout: 120)
        XCTAssertEqual(run.status, 0, run.stderr)
        return run.stdout.components(separatedBy: "\n# load").first?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
    }

    private func managementCommand(_ blockId: String, _ command: String, _ data: JSONValue = [:]) async throws -> JSONValue {
        try await post("/api/executeMgmtCommand", ["blockId": .string(blockId), "mgmtCommand": .string(command), "mgmtData": data], expect: 200)
    }

    func testASplitTaskDeploysAsAVDAGThatGeneratesTheUnsplitModelsTokensAndSurvivesLostSessions() async throws {
        _ = try LlamaServer.requireInstalled()
        try aios(["apply", "-f", "examples/llm-split/component.json"])
        let model = try Self.modelPath()
        let created = try await post("/api/splits", ["model": .string(model), "splits": 3, "splitter": "layer-range"], expect: 202)
        let taskId = try XCTUnwrap(created["task_id"]?.stringValue, created.jsonString())
        let followed = try aios(["split", "status", taskId, "-f"], timeout: 180)
        XCTAssertTrue(followed.stdout.contains("[complete] 100%"), followed.stdout)

        let task = try await platform.get("/api/splits/\(taskId)").body
        XCTAssertEqual(task["status"], "complete", task.jsonString(pretty: true))
        XCTAssertEqual(task["progress"], 1)
        let splits = task["plan"]?["splits"]?.arrayValue ?? []
        XCTAssertEqual(splits.map { $0["layers"] }, [[0, 10], [10, 20], [20, 30]], task.jsonString(pretty: true))
        XCTAssertEqual(task["plan"]?["model"]?["layers"], 30)
        let logs = try await platform.get("/api/splits/\(taskId)/logs").body["text"]?.stringValue ?? ""
        XCTAssertTrue(logs.contains("AIOS_SPLIT_STAGE"), logs)

        // Each artifact is served by its digest, whole.
        for split in splits {
            let sha = try XCTUnwrap(split["artifact"]?["sha256"]?.stringValue)
            XCTAssertEqual(split["artifact"]?["uri"]?.stringValue, "/api/artifacts/\(sha)")
            let file = directory.appendingPathComponent("download-\(sha.prefix(8))")
            let curl = try Command.run(["curl", "-sf", "-o", file.path, "\(platform.url)/api/artifacts/\(sha)"], environment: platform.auth)
            XCTAssertEqual(curl.status, 0, curl.stderr)
            let digest = try Command.run(["sha256sum", file.path]).stdout.split(separator: " ").first.map(String.init)
            XCTAssertEqual(digest, sha, "the bytes served are the artifact's")
        }
        let missing = try await platform.get("/api/artifacts/\(String(repeating: "0", count: 64))")
        XCTAssertEqual(missing.status, 404)

        try aios(["split", "deploy", taskId, "--controller", "smol"], timeout: 240)
        let deployed = try await platform.get("/api/splits/\(taskId)").body["deployment"]
        let blocks = deployed?["blocks"]?.arrayValue?.compactMap(\.stringValue) ?? []
        XCTAssertEqual(blocks.count, 3, deployed?.jsonString() ?? "")
        let again = try await platform.post("/api/splits/\(taskId)/deploy", json: [:])
        XCTAssertEqual(again.status, 409, "a plan deploys once: \(again.body.jsonString())")

        // Identical greedy tokens to the unsplit model, answered and streamed.
        let expected = try reference(maxTokens: 12)
        let answer = try chat("smol", maxTokens: 12)
        XCTAssertEqual(answer["ok"], true, "\(answer)")
        XCTAssertEqual(answer["content"]?.stringValue?.trimmingCharacters(in: .whitespacesAndNewlines), expected, "\(answer)")
        XCTAssertEqual(answer["finish_reason"], "stop", "the model ended its answer before max_tokens: \(answer)")
        let completionTokens = answer["usage"]?["completion_tokens"]?.intValue ?? 0
        XCTAssertTrue((1...12).contains(completionTokens), "\(answer)")
        XCTAssertGreaterThan(answer["usage"]?["prompt_tokens"]?.intValue ?? 0, 10, "the chat template and the question: \(answer)")
        let streamed = try chat("smol", maxTokens: 12, stream: true)
        XCTAssertEqual(streamed["ok"], true, "\(streamed)")
        XCTAssertEqual(streamed["content"], answer["content"], "the stream carries the same tokens")
        XCTAssertGreaterThanOrEqual(streamed["chunks"]?.intValue ?? 0, 5, "tokens arrive one chunk each: \(streamed)")
        XCTAssertEqual(streamed["finish_reason"], "stop", "\(streamed)")

        // A split loses the session mid-generation (its KV caches reset): the controller re-prefills the turn
        // and the tokens kept so far, and the answer is the undisturbed one.
        let long = try chat("smol", maxTokens: 40, message: Self.storyPrompt)
        XCTAssertEqual(long["ok"], true, "\(long)")
        XCTAssertEqual(long["finish_reason"], "length", "a long answer, cut at max_tokens: \(long)")
        let url = platform.url, auth = platform.auth
        let disturbedDone = Flag()
        let disturbed = Task.detached {
            defer { disturbedDone.set() }
            return try openAIChat(url: url, "smol", maxTokens: 40, message: SplitTaskTests.storyPrompt, auth: auth)
        }
        var cleared = 0
        let resetDeadline = Date().addingTimeInterval(60)
        while cleared == 0 && Date() < resetDeadline && !disturbedDone.value {
            let sessions = try await managementCommand(blocks[1], "sessions")
            if (sessions["data"]?.arrayValue?.first?["data"]?["count"]?.intValue ?? 0) > 0 {
                let reset = try await managementCommand(blocks[1], "reset")
                cleared = reset["data"]?.arrayValue?.first?["data"]?["sessions_cleared"]?.intValue ?? 0
            } else {
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        XCTAssertEqual(cleared, 1, "a generation's session was live in the middle split and was dropped")
        let recovered = try await disturbed.value
        XCTAssertEqual(recovered["ok"], true, "\(recovered)")
        XCTAssertEqual(recovered["content"], long["content"], "re-prefilled, the answer is unchanged")
        XCTAssertTrue(platform.log.contains("re-prefill"), "the controller logs the recovery")

        // The middle split dies mid-generation: the request fails naming it; once it is back, a new request
        // gives the same tokens (its fresh KV caches are rebuilt from the prompt, nothing stale).
        let block = try await platform.get("/api/blocks/\(blocks[1])").body
        let pid = try XCTUnwrap(block["instances"]?.arrayValue?.first?["pid"]?.intValue, block.jsonString(pretty: true))
        let dying = Task.detached { try openAIChat(url: url, "smol", maxTokens: 40, message: SplitTaskTests.storyPrompt, stream: true, auth: auth) }
        // Killed while the generation's session is live in it.
        let killDeadline = Date().addingTimeInterval(60)
        while Date() < killDeadline {
            let sessions = try await managementCommand(blocks[1], "sessions")
            if (sessions["data"]?.arrayValue?.first?["data"]?["count"]?.intValue ?? 0) > 0 { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        kill(Int32(pid), SIGKILL)
        let failed = try await dying.value
        XCTAssertEqual(failed["ok"], false, "\(failed)")
        XCTAssertTrue(failed.jsonString().contains("split-1") && failed.jsonString().contains(blocks[1]), "the error names the split and its block: \(failed)")
        try await platform.waitForBlock(blocks[1], timeout: 90) { block in
            block["phase"] == "Ready" && block["instances"]?.arrayValue?.first?["pid"]?.intValue != pid
        }
        let afterRestart = try chat("smol", maxTokens: 12)
        XCTAssertEqual(afterRestart["content"], answer["content"], "\(afterRestart)")
    }

    /// Nodes of one small GPU each (`gpuMB` in all, all of it free): a split that is placed reserves its memory.
    private func gpuCluster(_ id: String, nodes: Int, gpuMB: Double) -> JSONValue {
        [
            "id": .string(id), "regionId": "r1", "clusterMetadata": ["vendor": "sim"], "tags": [], "reputation": 1,
            "nodes": ["nodeData": .array((0..<nodes).map { index in
                ["id": .string("\(id)-\(index)"), "vcpus": ["count": 16], "memory": 64_000,
                 "gpus": ["gpus": [["modelName": "sim", "memory": .number(gpuMB)]]]]
            })],
        ]
    }

    private func pushMetrics(_ cluster: String, nodes: Int, freeMB: Double) async throws {
        for index in 0..<nodes {
            try await post("/api/nodeMetrics", Fixtures.nodeMetrics(cluster: cluster, node: "\(cluster)-\(index)", load15m: 0.5,
                                                                    gpus: [(5, freeMB, freeMB)]), expect: 200)
        }
    }

    func testPlansArePlacedWhereTheirSplitsFitOnASimulatedGPUNetwork() async throws {
        _ = try LlamaServer.requireInstalled()
        try aios(["apply", "-f", "examples/llm-split/component.json"])
        let model = try Self.modelPath()

        // First the memory each split of an even 3-way plan needs.
        let sizing = try await post("/api/splits", ["model": .string(model), "splits": 3], expect: 202)
        let sized = try await waitForTask(try XCTUnwrap(sizing["task_id"]?.stringValue))
        let memory = sized["plan"]?["splits"]?.arrayValue?.compactMap { $0["memoryMB"]?.numberValue } ?? []
        XCTAssertEqual(memory.count, 3, sized.jsonString(pretty: true))
        let total = memory.reduce(0, +), largest = memory.max() ?? 0

        // Nodes of one GPU each, none with room for the whole model nor for two splits: balanced over the
        // cluster's nodes, the splits land on three different nodes.
        let free = (largest * 1.2).rounded()
        XCTAssertLessThan(free, total, "no node holds the whole model")
        try await post("/api/createCluster", gpuCluster("gpu-net", nodes: 3, gpuMB: free), expect: 200)
        try await pushMetrics("gpu-net", nodes: 3, freeMB: free)
        let balanced = try await post("/api/splits", ["model": .string(model), "strategy": "balanced", "clusterId": "gpu-net"], expect: 202)
        let balancedId = try XCTUnwrap(balanced["task_id"]?.stringValue)
        let plan = try await waitForTask(balancedId)
        XCTAssertEqual(plan["status"], "complete", plan.jsonString(pretty: true))
        XCTAssertEqual(plan["plan"]?["splits"]?.arrayValue?.count, 3, "one split per node")
        for split in plan["plan"]?["splits"]?.arrayValue ?? [] {
            XCTAssertLessThanOrEqual(split["memoryMB"]?.numberValue ?? .infinity, free, "each split fits a node: \(split.jsonString())")
        }
        try await pushMetrics("gpu-net", nodes: 3, freeMB: free)
        let deployment = try await post("/api/splits/\(balancedId)/deploy", ["controllerId": "net", "wait_s": 240], expect: 200)
        var nodes = Set<String>()
        for blockId in deployment["blocks"]?.arrayValue?.compactMap(\.stringValue) ?? [] {
            let block = try await platform.get("/api/blocks/\(blockId)").body
            XCTAssertEqual(block["placement"]?["clusterId"], "gpu-net", block.jsonString(pretty: true))
            if let node = block["placement"]?["instances"]?.arrayValue?.first?["nodeId"]?.stringValue { nodes.insert(node) }
        }
        XCTAssertEqual(nodes.count, 3, "the splits are on different nodes: \(nodes)")

        // A network that cannot hold the model: balanced splitting fails with a report, and an even plan
        // aimed at it fails to deploy naming the split that has no room, leaving no block behind.
        try await post("/api/createCluster", gpuCluster("tiny-net", nodes: 2, gpuMB: (largest / 2).rounded()), expect: 200)
        try await pushMetrics("tiny-net", nodes: 2, freeMB: (largest / 2).rounded())
        let infeasible = try await post("/api/splits", ["model": .string(model), "strategy": "balanced", "clusterId": "tiny-net"], expect: 202)
        let refused = try await waitForTask(try XCTUnwrap(infeasible["task_id"]?.stringValue))
        XCTAssertEqual(refused["status"], "failed", refused.jsonString(pretty: true))
        XCTAssertTrue(refused["error"]?.stringValue?.contains("MB") ?? false, refused.jsonString(pretty: true))

        let even = try await post("/api/splits", ["model": .string(model), "splits": 3, "clusterId": "tiny-net"], expect: 202)
        let evenId = try XCTUnwrap(even["task_id"]?.stringValue)
        let evenPlan = try await waitForTask(evenId)
        XCTAssertEqual(evenPlan["status"], "complete", evenPlan.jsonString(pretty: true))
        let before = Set(try await platform.get("/api/blocks").body.arrayValue?.compactMap { $0["blockId"]?.stringValue } ?? [])
        try await pushMetrics("tiny-net", nodes: 2, freeMB: (largest / 2).rounded())
        let failure = try await post("/api/splits/\(evenId)/deploy", [:], expect: 409)
        let message = failure["error"]?["message"]?.stringValue ?? ""
        XCTAssertTrue(message.contains("split split-0") && message.contains("cannot be placed"), failure.jsonString(pretty: true))
        XCTAssertTrue(failure.jsonString().contains("MB"), "the placement report says why: \(failure.jsonString())")
        let after = Set(try await platform.get("/api/blocks").body.arrayValue?.compactMap { $0["blockId"]?.stringValue } ?? [])
        XCTAssertEqual(after, before, "a failed deploy leaves no block behind")
    }

    func testBadSplitRequestsAreRefusedNamingTheField() async throws {
        // Host files outside the model directories are refused alike, whether they exist or not, without a path.
        let outside = try await post("/api/splits", ["model": "/etc/passwd", "splits": 2], expect: 400)
        XCTAssertTrue(outside.jsonString().contains("model directories"), outside.jsonString())
        for model in ["/nonexistent/model.gguf", .string(models.path + "/../aios.db")] as [JSONValue] {
            let refused = try await post("/api/splits", ["model": model, "splits": 2], expect: 400)
            XCTAssertEqual(refused, outside, "\(model) is refused as /etc/passwd is")
        }
        XCTAssertFalse(outside.jsonString().contains("/etc") || outside.jsonString().contains(directory.path), outside.jsonString())
        try FileManager.default.createSymbolicLink(atPath: models.appendingPathComponent("escape.gguf").path, withDestinationPath: "/etc/passwd")
        let escape = try await post("/api/splits", ["model": .string(models.appendingPathComponent("escape.gguf").path), "splits": 2], expect: 400)
        XCTAssertEqual(escape, outside, "a link out of a model directory is outside it")
        let missing = try await post("/api/splits", ["model": .string(models.appendingPathComponent("missing.gguf").path), "splits": 2], expect: 400)
        XCTAssertTrue(missing.jsonString().contains("no such file"), missing.jsonString())
        let noArtifact = try await post("/api/splits", ["model": .string("/api/artifacts/" + String(repeating: "0", count: 64)), "splits": 2], expect: 400)
        XCTAssertTrue(noArtifact.jsonString().contains("no such artifact"), noArtifact.jsonString())
        let bad = try await post("/api/splits", ["model": "relative.gguf", "splits": 0, "splitter": "magic"], expect: 400)
        let paths = bad["error"]?["fields"]?.arrayValue?.compactMap { $0["path"]?.stringValue } ?? []
        XCTAssertEqual(Set(paths), ["model", "splits", "splitter"], bad.jsonString())
        let stored = try await platform.get("/api/splits").body
        XCTAssertEqual(stored, [], "nothing stored")
        let unknown = try await platform.get("/api/splits/split-nope")
        XCTAssertEqual(unknown.status, 404)

        // A splitter that fails: the task fails with its stage's message, and cannot be deployed.
        let program = directory.appendingPathComponent("failing_splitter.py")
        try """
        from aios_splits import execute_model_splitter

        class Splitter:
            def __init__(self, context):
                self.context = context
            def begin(self):
                self.context.progress(0.5, "halfway")
                return True, None
            def main(self, extra):
                raise RuntimeError("the weights are corrupt")
            def finish(self, extra):
                return True, {}

        execute_model_splitter(Splitter)
        """.write(to: program, atomically: true, encoding: .utf8)
        let model = models.appendingPathComponent("model.gguf")
        try Data("not really".utf8).write(to: model)
        let created = try await post("/api/splits", ["model": .string(model.path), "splits": 2,
                                                     "splitter": ["command": ["python3", .string(program.path)], "cwd": .string(directory.path)]], expect: 202)
        let id = try XCTUnwrap(created["task_id"]?.stringValue)
        let task = try await waitForTask(id, timeout: 60)
        XCTAssertEqual(task["status"], "failed", task.jsonString(pretty: true))
        XCTAssertTrue(task["error"]?.stringValue?.contains("stage main failed") ?? false, task.jsonString(pretty: true))
        XCTAssertTrue(task["error"]?.stringValue?.contains("the weights are corrupt") ?? false, task.jsonString(pretty: true))
        XCTAssertEqual(task["progress"], 0.5, "the last progress reported stays")
        let deploy = try await platform.post("/api/splits/\(id)/deploy", json: [:])
        XCTAssertEqual(deploy.status, 409, deploy.body.jsonString())
    }
}

/// One chat completion through the gateway with the official `openai` package (`Tests/clients/openai_client.py`).
func openAIChat(url: String, _ model: String, maxTokens: Int, message: String, stream: Bool = false,
                timeout: TimeInterval = 120, auth: [String: String]) throws -> JSONValue {
    var arguments = [Command.python, Command.client("openai_client.py"), "\(url)/v1", model, "--message", message,
                     "--max-tokens", String(maxTokens), "--temperature", "0", "--timeout", String(Int(timeout))]
    if stream { arguments.append("--stream") }
    let run = try Command.run(arguments, environment: auth, timeout: timeout + 30)
    let line = run.stdout.split(separator: "\n").first { $0.hasPrefix("{") }
    guard let reply = line.flatMap({ JSONValue.decodeJSON(Data($0.utf8)) }) else { throw PlatformError("openai_client.py printed no JSON: \(run.stdout) \(run.stderr)") }
    return reply
}

/// A flag set once, read from another task.
final class Flag: @unchecked Sendable {
    private let lock = NSLock()
    private var isSet = false
    func set() { lock.withLock { isSet = true } }
    var value: Bool { lock.withLock { isSet } }
}
