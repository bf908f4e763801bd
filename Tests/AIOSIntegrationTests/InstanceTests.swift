import AIOSModel
import AIOSRuntime
import AIOSWire
import Foundation
import GRPCCore
import XCTest

/// Real instances (the Swift echo example and the Python wordcount example) started by a real `aios up`,
/// called directly over the instance protocol.
final class InstanceTests: XCTestCase {
    private var directory: URL!
    private var platform: PlatformProcess!

    override func setUp() async throws {
        directory = temporaryDirectory("instances")
        platform = try PlatformProcess(dataDirectory: directory)
    }

    override func tearDown() async throws {
        platform?.stop()
        platform = nil
        try? FileManager.default.removeItem(at: directory)
    }

    private func apply(_ file: String) throws {
        let process = Process()
        process.executableURL = PlatformProcess.executable
        process.arguments = ["apply", "-f", PlatformProcess.repositoryRoot.appendingPathComponent(file).path, "--server", platform.url]
        process.environment = ProcessInfo.processInfo.environment.merging(platform.auth) { _, auth in auth }
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        XCTAssertEqual(process.terminationStatus, 0, "aios apply -f \(file): \(message)")
    }

    /// POSTs and expects 200.
    private func ok(_ path: String, _ body: JSONValue) async throws {
        let reply = try await platform.post(path, json: body)
        XCTAssertEqual(reply.status, 200, "\(path): \(reply.body.jsonString())")
    }

    private func address(_ block: JSONValue) throws -> String {
        try XCTUnwrap(block["instances"]?.arrayValue?.first?["address"]?.stringValue, block.jsonString(pretty: true))
    }

    private func packet(_ data: JSONValue, session: String = "s1") -> Aios_Instance_V1_InferRequest {
        var request = Aios_Instance_V1_InferRequest()
        request.packet.sessionID = session
        request.packet.seqNo = 1
        request.packet.data = data.jsonString()
        return request
    }

    private let deadline = InstanceClient.options(timeout: .seconds(10))

    func testSwiftBlockServesTheInstanceProtocol() async throws {
        try apply("examples/swift-echo/component.json")
        try apply("examples/swift-echo/block.json")
        let block = try await platform.waitForPhase("swift-echo-1", "Ready")
        let address = try address(block)
        let options = deadline
        let request = packet(["text": "hello blocks"])
        let streamRequest = packet(["text": "one two three", "stream": true])
        try await InstanceClient.with(address: address) { client in
            let reply = try await client.infer(request, options: options)
            XCTAssertEqual(reply.outputs.count, 1)
            let output = JSONValue.decodeJSON(Data(reply.outputs[0].data.utf8))
            XCTAssertEqual(output?["text"], "HELLO BLOCKS")
            XCTAssertEqual(reply.outputs[0].sessionID, "s1")

            let tokens = try await client.inferStream(streamRequest, options: options) { response in
                var tokens: [String] = []
                for try await reply in response.messages {
                    tokens += reply.outputs.compactMap { JSONValue.decodeJSON(Data($0.data.utf8))?["token"]?.stringValue }
                }
                return tokens
            }
            XCTAssertEqual(tokens, ["ONE ", "TWO ", "THREE"])

            let health = try await client.health(Aios_Instance_V1_HealthRequest(), options: options)
            XCTAssertEqual(health.status, "healthy")

            var update = Aios_Instance_V1_UpdateParametersRequest()
            update.parametersJson = #"{"temperature": 0.1}"#
            let updated = try await client.updateParameters(update, options: options)
            XCTAssertEqual(JSONValue.decodeJSON(Data(updated.parametersJson.utf8))?["temperature"], 0.1)
        }
    }

    func testUserCodeFailuresBecomeErrorReplies() async throws {
        try apply("examples/swift-echo/component.json")
        try apply("examples/swift-echo/block.json")
        let address = try address(try await platform.waitForPhase("swift-echo-1", "Ready"))
        let options = deadline
        let failing = packet(["text": "x", "fail": true])
        try await InstanceClient.with(address: address) { client in
            do {
                _ = try await client.infer(failing, options: options)
                XCTFail("a raising block answered")
            } catch let error as RPCError {
                XCTAssertEqual(error.code, .internalError)
                XCTAssertTrue(error.message.contains("asked the echo block to fail"), error.message)
            }
            var manage = Aios_Instance_V1_ManageRequest()
            manage.action = "nonsense"
            do {
                _ = try await client.manage(manage, options: options)
                XCTFail("an unknown action answered")
            } catch let error as RPCError {
                XCTAssertEqual(error.code, .invalidArgument)
            }
        }
    }

    func testPythonBlockRunsAIOSStyleCode() async throws {
        guard PlatformProcess.pythonVirtualEnv != nil else {
            if ProcessInfo.processInfo.environment["CI"] != nil { return XCTFail("no .venv: make test creates it") }
            throw XCTSkip("no .venv with the Python SDK; `make test` creates it")
        }
        try apply("examples/python-wordcount/component.json")
        try apply("examples/python-wordcount/block.json")
        let block = try await platform.waitForPhase("wordcount-1", "Ready", timeout: 60)
        let options = deadline
        let request = packet(["text": "the cat and the hat"])
        try await InstanceClient.with(address: try address(block)) { client in
            let reply = try await client.infer(request, options: options)
            let output = JSONValue.decodeJSON(Data(try XCTUnwrap(reply.outputs.first).data.utf8))
            XCTAssertEqual(output?["words"], 5, output?.jsonString() ?? "")
            let health = try await client.health(Aios_Instance_V1_HealthRequest(), options: options)
            XCTAssertEqual(health.status, "healthy")
        }
    }

    /// The wordcount example, its instances importing this checkout's Python SDK, ready to serve.
    @discardableResult
    private func readyWordcount() async throws -> JSONValue {
        guard PlatformProcess.pythonVirtualEnv != nil else {
            if ProcessInfo.processInfo.environment["CI"] != nil { XCTFail("no .venv: make test creates it") }
            throw XCTSkip("no .venv with the Python SDK; `make test` creates it")
        }
        let sdk = PlatformProcess.repositoryRoot.appendingPathComponent("python/aios_instance").path
        let component = Fixtures.withSpecValues(try Fixtures.exampleComponent("python-wordcount")) { values in
            var runtime = values["runtime"]?.objectValue ?? [:]
            runtime["env"] = ["PYTHONPATH": .string(sdk)]
            values["runtime"] = .object(runtime)
        }
        try await ok("/api/addComponent", component)
        try apply("examples/python-wordcount/block.json")
        return try await platform.waitForPhase("wordcount-1", "Ready", timeout: 60)
    }

    func testABlockRefusingItsInputAnswersInvalidArgument() async throws {
        try await readyWordcount()
        // wordcount's on_preprocess returns (False, reason) for data without a "text" string.
        let rest = try await platform.post("/v1/infer", json: ["block_id": "wordcount-1", "data": ["words": 3]])
        XCTAssertEqual(rest.status, 400, rest.body.jsonString())
        XCTAssertEqual(rest.body["error"]?["code"], "INVALID_ARGUMENT", rest.body.jsonString())
        XCTAssertTrue(rest.body["error"]?["message"]?.stringValue?.contains("string field \"text\"") == true, rest.body.jsonString())
        try await GatewayClient.with(platform) { gateway in
            let outcome = await gateway.infer(block: "wordcount-1", data: ["words": 3])
            XCTAssertEqual(outcome.code, .invalidArgument, outcome.message)
            let fine = await gateway.infer(block: "wordcount-1", data: ["text": "still serving"])
            XCTAssertEqual(fine.data?["words"], 2, fine.message)
        }
    }

    func testParameterUpdatesAreCheckedAgainstTheComponentProtocol() async throws {
        try await readyWordcount()
        let mgmt = try await platform.post("/api/executeMgmtCommand", json: ["blockId": "wordcount-1", "mgmtCommand": "set_parameters", "mgmtData": ["top_k": -7]])
        XCTAssertEqual(mgmt.status, 400, mgmt.body.jsonString())
        XCTAssertEqual(mgmt.body["error"]?["fields"]?.arrayValue?.compactMap { $0["path"]?.stringValue }, ["mgmtData.top_k"], mgmt.body.jsonString())
        let rest = try await platform.post("/api/blocks/wordcount-1/parameters", json: ["parameters": ["top_k": 2, "lowercase": "yes", "typo_k": 1]])
        XCTAssertEqual(rest.status, 400, rest.body.jsonString())
        XCTAssertEqual(rest.body["error"]?["fields"]?.arrayValue?.compactMap { $0["path"]?.stringValue }, ["parameters.lowercase", "parameters.typo_k"], rest.body.jsonString())
        // Nothing refused was stored: the block still has its parameters, and a good update goes through.
        let stored = try await platform.get("/api/blocks/wordcount-1")
        XCTAssertEqual(stored.body["resolved"]?["parameters"], ["top_k": 3, "lowercase": true])
        let good = try await platform.post("/api/blocks/wordcount-1/parameters", json: ["top_k": 5])
        XCTAssertEqual(good.status, 200, good.body.jsonString())
        let updated = try await platform.get("/api/blocks/wordcount-1")
        XCTAssertEqual(updated.body["resolved"]?["parameters"]?["top_k"], 5)
    }

    func testACrashedInstanceIsRestarted() async throws {
        try apply("examples/swift-echo/component.json")
        try apply("examples/swift-echo/block.json")
        let before = try await platform.waitForPhase("swift-echo-1", "Ready")
        let oldPid = try XCTUnwrap(before["instances"]?.arrayValue?.first?["pid"]?.intValue)
        var crash = Aios_Instance_V1_ManageRequest()
        crash.action = "crash"
        let options = deadline
        _ = try? await InstanceClient.with(address: try address(before)) { client in
            try await client.manage(crash, options: options)
        }
        let after = try await platform.waitForBlock("swift-echo-1") { block in
            let instance = block["instances"]?.arrayValue?.first
            return block["phase"] == "Ready" && instance?["restarts"] == 1 && instance?["pid"]?.intValue != oldPid
        }
        let events = after["events"]?.arrayValue?.compactMap { $0["type"]?.stringValue } ?? []
        XCTAssertTrue(events.contains("InstanceExited"), "\(events)")
        XCTAssertTrue(after.jsonString().contains("exited with status 3"), after.jsonString(pretty: true))
    }

    func testACrashLoopDegradesTheBlockWithTheLastLogLines() async throws {
        let component: JSONValue = [
            "componentId": ["name": "crasher", "version": "1", "releaseTag": "t"], "componentType": "tool",
            "runtime": ["type": "process", "command": ["sh", "-c", "echo 'loading weights from /models/missing.bin failed' >&2; exit 3"], "cwd": "/"],
        ]
        try await ok("/api/addComponent", component)
        let created = try await platform.post("/api/createBlock", json: ["blockId": "crasher", "blockComponentURI": "tool.crasher:1-t", "minInstances": 1, "maxInstances": 1])
        XCTAssertEqual(created.status, 200, created.body.jsonString())
        let block = try await platform.waitForPhase("crasher", "Degraded", timeout: 30)
        let reason = block["reason"]?.stringValue ?? ""
        XCTAssertTrue(reason.contains("crash-looping"), reason)
        XCTAssertTrue(reason.contains("/models/missing.bin failed"), reason)
        XCTAssertTrue(reason.contains("status 3"), reason)
    }

    func testAComponentWithOnlyAnImageFailsWithAReason() async throws {
        try await ok("/api/addComponent", [
            "componentId": ["name": "imaged", "version": "1", "releaseTag": "t"], "componentType": "model",
            "containerRegistryInfo": ["containerImage": "registry.local/imaged:1", "containerRegistryId": "r", "componentMode": "aios"],
        ])
        try await ok("/api/createBlock", ["blockId": "imaged", "blockComponentURI": "model.imaged:1-t", "minInstances": 1, "maxInstances": 1])
        let block = try await platform.waitForPhase("imaged", "Failed")
        XCTAssertTrue(block["reason"]?.stringValue?.contains("registry.local/imaged:1") ?? false, block.jsonString(pretty: true))
        // With an engine, the pull needs registry "r", which is not registered; without one, the block says so.
        let reason = block["reason"]?.stringValue ?? ""
        XCTAssertTrue(reason.contains("\"r\" is not a registered registry") || reason.contains("no OCI engine can run containers"), reason)
        // It stays failed: nothing turns it back into Starting.
        try await Task.sleep(for: .milliseconds(300))
        let again = try await platform.get("/api/blocks/imaged").body
        XCTAssertEqual(again["phase"], "Failed")
    }

    func testRemovalLeavesNoProcessBehind() async throws {
        try apply("examples/swift-echo/component.json")
        try apply("examples/swift-echo/block.json")
        _ = try await platform.waitForPhase("swift-echo-1", "Ready")
        let pids = InstanceProcesses.running(blockId: "swift-echo-1", dataDirectory: directory)
        XCTAssertEqual(pids.count, 1)
        let removed = try await platform.post("/api/removeBlock", json: ["blockId": "swift-echo-1"])
        XCTAssertEqual(removed.status, 200)
        XCTAssertEqual(InstanceProcesses.running(blockId: "swift-echo-1", dataDirectory: directory), [], "removal waits until the instances are gone")
        for pid in pids { XCTAssertFalse(InstanceProcesses.alive(pid)) }
    }

    func testGPUEnvironmentMatchesTheStoredAllocation() async throws {
        try await ok("/api/addComponent", Fixtures.chatComponent)
        try await ok("/api/createCluster", Fixtures.gpuCluster)
        try await ok("/api/nodeMetrics", Fixtures.nodeMetrics(cluster: "gpu-cluster-1", node: "node-a", gpus: [(50, 30000, 40960), (5, 40000, 40960)]))
        let created = try await platform.post("/api/createBlock", json: Fixtures.placedBlock(id: "gpu-echo", clusterId: "gpu-cluster-1", gpus: 2))
        XCTAssertEqual(created.body["result"]?["phase"], "Starting", created.body.jsonString())
        let block = try await platform.waitForPhase("gpu-echo", "Ready")
        let allocated = block["placement"]?["instances"]?.arrayValue?.first?["gpus"]?.arrayValue?.compactMap(\.stringValue) ?? []
        XCTAssertEqual(allocated, ["0", "1"])
        XCTAssertEqual(block["placement"]?["simulated"], true)
        XCTAssertEqual(block["placement"]?["driver"], "simulated", "a cluster that names no driver is simulated")
        let cluster = try await platform.get("/api/clusters/gpu-cluster-1")
        XCTAssertEqual(cluster.body["driver"], "simulated")
        let local = try await platform.get("/api/clusters/local")
        XCTAssertEqual(local.body["driver"], "host")
        // The block file tells the instance its GPUs are simulated.
        let blockFile = directory.appendingPathComponent("instances/gpu-echo/\(block["placement"]?["instances"]?.arrayValue?.first?["instanceId"]?.stringValue ?? "").json")
        let written = JSONValue.decodeJSON(try Data(contentsOf: blockFile))
        XCTAssertEqual(written?["simulated"], true)
        XCTAssertEqual(written?["allocation"]?["gpus"], ["0", "1"])
        var env = Aios_Instance_V1_ManageRequest()
        env.action = "env"
        let options = deadline
        let reply = try await InstanceClient.with(address: try address(block)) { client in
            try await client.manage(env, options: options)
        }
        let environment = JSONValue.decodeJSON(Data(reply.resultJson.utf8))
        XCTAssertEqual(environment?["CUDA_VISIBLE_DEVICES"], "0,1")
        XCTAssertEqual(environment?["NVIDIA_VISIBLE_DEVICES"], "0,1")
        XCTAssertEqual(environment?["AIOS_BLOCK_ID"], "gpu-echo")
    }
}
