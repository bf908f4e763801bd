import AIOSModel
import Foundation
import GRPCCore
import XCTest

/// The inference gateway with real clients: the AIOS tutorial's Python gRPC client, curl, the `openai`
/// package, and Swift gRPC clients under load, against a real `aios up` running Swift echo instances.
final class GatewayTests: EchoPlatformTestCase {
    override class var directoryName: String { "gateway" }

    /// An echo block of `instances` instances on this machine, ready to serve.
    @discardableResult
    private func readyBlock(_ id: String, instances: Int = 1, loadBalancer: JSONValue? = nil, initSettings: JSONValue = [:]) async throws -> JSONValue {
        var values: [String: JSONValue] = [
            "blockId": .string(id), "blockComponentURI": "model.chat:1.0.0-stable",
            "minInstances": .number(Double(instances)), "maxInstances": .number(Double(instances)), "initSettings": initSettings,
        ]
        if var loadBalancer = loadBalancer?.objectValue {
            loadBalancer["name"] = "loadBalancer"
            values["policyRulesSpec"] = [["values": .object(loadBalancer)]]
        }
        let reply = try await platform.post("/api/createBlock", json: .object(values))
        XCTAssertEqual(reply.status, 200, reply.body.jsonString())
        return try await platform.waitForBlock(id) { block in
            block["phase"]?.stringValue == "Ready" && (block["instances"]?.arrayValue ?? []).filter { $0["healthy"]?.boolValue == true }.count == instances
        }
    }

    private func instanceId(_ outcome: GatewayClient.Outcome) -> String? {
        outcome.data?["instanceId"]?.stringValue
    }

    // MARK: Clients

    func testTheAIOSTutorialClientCallsBlockInferenceService() async throws {
        try await readyBlock("echo")
        let attachment = directory.appendingPathComponent("photo.bin")
        try Data(repeating: 7, count: 1234).write(to: attachment)
        func tutorial(_ block: String, _ data: String, _ extra: [String] = []) throws -> [String: Any] {
            let run = try Command.run([Command.python, Command.client("tutorial_client.py"), platform.grpcAddress, block, "--data", data] + extra, environment: platform.auth)
            XCTAssertEqual(run.status, 0, run.stderr)
            return try XCTUnwrap(run.jsonLines.first, "no JSON line: \(run.stdout) \(run.stderr)")
        }

        let reply = try tutorial("echo", #"{"text": "hello gateway"}"#, ["--session", "tutorial-1", "--seq", "7", "--file", attachment.path])
        XCTAssertEqual(reply["ok"] as? Bool, true, "\(reply)")
        XCTAssertEqual(reply["session_id"] as? String, "tutorial-1")
        XCTAssertEqual(reply["seq_no"] as? Int, 7)
        let data = try XCTUnwrap(JSONValue.decodeJSON(Data(((reply["data"] as? String) ?? "").utf8)))
        XCTAssertEqual(data["text"], "HELLO GATEWAY")
        XCTAssertEqual(data["files"]?.arrayValue?.first?["size"], 1234)

        let unknown = try tutorial("no-such-block", "{}")
        XCTAssertEqual(unknown["code"] as? String, "NOT_FOUND")
        XCTAssertTrue((unknown["details"] as? String ?? "").contains("no-such-block"))
        let empty = try tutorial("", "{}")
        XCTAssertEqual(empty["code"] as? String, "INVALID_ARGUMENT")
        let failing = try tutorial("echo", #"{"fail": true}"#)
        XCTAssertEqual(failing["code"] as? String, "INTERNAL")
        XCTAssertTrue((failing["details"] as? String ?? "").contains("the request asked the echo block to fail"), "\(failing)")
        let started = Date()
        let slow = try tutorial("echo", #"{"sleep_ms": 5000}"#, ["--timeout", "0.5"])
        XCTAssertEqual(slow["code"] as? String, "DEADLINE_EXCEEDED")
        XCTAssertLessThan(Date().timeIntervalSince(started), 4)
    }

    func testTheBlockDeadlineComesFromInitSettings() async throws {
        try await readyBlock("short", initSettings: ["timeout_ms": 300])
        try await GatewayClient.with(platform) { gateway in
            let outcome = await gateway.infer(block: "short", data: ["sleep_ms": 3000], timeout: .seconds(20))
            XCTAssertEqual(outcome.code, .deadlineExceeded, outcome.message)
            let quick = await gateway.infer(block: "short", data: ["text": "fast"])
            XCTAssertEqual(quick.data?["text"], "FAST")
        }
    }

    func testRESTAndOpenAICompatibleClients() async throws {
        try await readyBlock("chat")
        let url = platform.url
        let rest = try Command.run(["curl", "-s", "\(url)/v1/infer", "-H", "Content-Type: application/json",
                                    "-d", #"{"block_id": "chat", "session_id": "s1", "data": {"text": "over rest"}}"#], environment: platform.auth)
        let restReply = try XCTUnwrap(JSONValue.decodeJSON(Data(rest.stdout.utf8)), rest.stdout)
        XCTAssertEqual(restReply["success"], true, rest.stdout)
        XCTAssertEqual(restReply["data"]?["text"], "OVER REST")

        let file = directory.appendingPathComponent("upload.txt")
        try Data("seven b".utf8).write(to: file)
        let multipart = try Command.run(["curl", "-s", "\(url)/v1/infer", "-F", "block_id=chat", "-F", #"data={"text": "with a file"}"#,
                                         "-F", "image=@\(file.path)", "-F", #"image_metadata={"camera": "front"}"#], environment: platform.auth)
        let multipartReply = try XCTUnwrap(JSONValue.decodeJSON(Data(multipart.stdout.utf8)), multipart.stdout)
        let sent = multipartReply["data"]?["files"]?.arrayValue?.first
        XCTAssertEqual(sent?["size"], 7, multipart.stdout)
        XCTAssertEqual(sent?["metadata"], #"{"camera": "front"}"#)

        let missing = try Command.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "\(url)/v1/infer", "-d", #"{"block_id": "nope"}"#], environment: platform.auth)
        XCTAssertEqual(missing.stdout, "404")
        let zeroTimeout = try await platform.post("/v1/infer", json: ["block_id": "chat", "data": "x", "timeout_ms": 0])
        XCTAssertEqual(zeroTimeout.status, 400, zeroTimeout.body.jsonString())
        let hugeTimeout = try await platform.post("/v1/infer", json: ["block_id": "chat", "data": ["text": "x"], "timeout_ms": "18446744073709551615"])
        XCTAssertEqual(hugeTimeout.status, 200, "a huge deadline is capped, not a crash: \(hugeTimeout.body.jsonString())")
        let notJSON = try await platform.post("/v1/infer", "{not json")
        XCTAssertEqual(notJSON.status, 400)
        XCTAssertEqual(notJSON.body["error"]?["code"], "INVALID_ARGUMENT")

        func openAI(_ extra: [String]) throws -> [String: Any] {
            let run = try Command.run([Command.python, Command.client("openai_client.py"), "\(url)/v1", "chat", "--message", "stream these words"] + extra, environment: platform.auth)
            XCTAssertEqual(run.status, 0, run.stderr)
            return try XCTUnwrap(run.jsonLines.first, "\(run.stdout) \(run.stderr)")
        }
        let chat = try openAI(["--session", "chat-1"])
        XCTAssertEqual(chat["ok"] as? Bool, true, "\(chat)")
        XCTAssertEqual(chat["content"] as? String, "STREAM THESE WORDS")
        XCTAssertEqual(chat["finish_reason"] as? String, "stop")
        let streamed = try openAI(["--stream"])
        XCTAssertEqual(streamed["content"] as? String, "STREAM THESE WORDS", "\(streamed)")
        XCTAssertGreaterThanOrEqual(streamed["chunks"] as? Int ?? 0, 3, "one chunk per streamed word")
        let completion = try openAI(["--completions"])
        XCTAssertEqual(completion["content"] as? String, "STREAM THESE WORDS", "\(completion)")
        let streamedCompletion = try openAI(["--completions", "--stream"])
        XCTAssertEqual(streamedCompletion["content"] as? String, "STREAM THESE WORDS", "\(streamedCompletion)")

        let models = try await platform.get("/v1/models")
        XCTAssertEqual(models.body["data"]?.arrayValue?.compactMap { $0["id"]?.stringValue }, ["chat"])
        let unknownModel = try Command.run([Command.python, Command.client("openai_client.py"), "\(url)/v1", "ghost", "--message", "hi"], environment: platform.auth)
        let unknownReply = try XCTUnwrap(unknownModel.jsonLines.first, unknownModel.stdout)
        XCTAssertEqual(unknownReply["status"] as? Int, 404, "\(unknownReply)")
        let unknownStream = try Command.run([Command.python, Command.client("openai_client.py"), "\(url)/v1", "ghost", "--message", "hi", "--stream"], environment: platform.auth)
        let unknownStreamReply = try XCTUnwrap(unknownStream.jsonLines.first, unknownStream.stdout)
        XCTAssertEqual(unknownStreamReply["status"] as? Int, 404, "a stream to an unknown block is a 404, not an event: \(unknownStreamReply)")
    }

    // MARK: Affinity

    func testASessionStaysOnItsInstanceAndMovesOnlyWhenItDies() async throws {
        let block = try await readyBlock("sticky", instances: 3, loadBalancer: ["policyRuleURI": "policy.loadBalancer.session-aware-llm:v0.1.0"])
        try await GatewayClient.with(platform) { gateway in
            var seen: Set<String> = []
            for seq in 0..<100 {
                let outcome = await gateway.infer(block: "sticky", session: "one-session", seq: UInt64(seq), data: ["text": "x"])
                seen.insert(try XCTUnwrap(instanceId(outcome), outcome.message))
            }
            XCTAssertEqual(seen.count, 1, "a session stays on one instance across 100 requests")

            var before: [String: String] = [:]
            for index in 0..<60 {
                let outcome = await gateway.infer(block: "sticky", session: "s-\(index)", data: ["text": "x"])
                before["s-\(index)"] = try XCTUnwrap(instanceId(outcome), outcome.message)
            }
            XCTAssertEqual(Set(before.values).count, 3, "sessions spread over the three instances")

            // Kill the instance holding the first session. Its sessions move (the first requests after the
            // kill, answered by a retry on another instance, before the supervisor restarts it), and no
            // other session moves at any time.
            let victim = before["s-0"]!
            let instances = block["instances"]?.arrayValue ?? []
            let pid = try XCTUnwrap(instances.first { $0["instanceId"]?.stringValue == victim }?["pid"]?.intValue)
            let victimSessions = before.filter { $0.value == victim }.map(\.key).sorted().prefix(5)
            kill(Int32(pid), SIGKILL)
            for session in victimSessions {
                let outcome = await gateway.infer(block: "sticky", session: session, data: ["text": "x"])
                let moved = try XCTUnwrap(instanceId(outcome), "a request to a dying instance is retried elsewhere: \(outcome.message)")
                XCTAssertNotEqual(moved, victim, "\(session) moved off the dead instance")
            }
            for (session, instance) in before where instance != victim {
                let outcome = await gateway.infer(block: "sticky", session: session, data: ["text": "x"])
                XCTAssertEqual(instanceId(outcome), instance, "\(session) moved although its instance stayed")
            }
            // The supervisor restarts the instance under the same id; its sessions come back to it.
            try await platform.waitForBlock("sticky") { block in
                (block["instances"]?.arrayValue ?? []).contains { $0["instanceId"]?.stringValue == victim && $0["healthy"]?.boolValue == true && $0["restarts"]?.intValue == 1 }
            }
            var returned = false
            for _ in 0..<50 where !returned {
                returned = instanceId(await gateway.infer(block: "sticky", session: "s-0", data: ["text": "x"])) == victim
                if !returned { try await Task.sleep(for: .milliseconds(100)) }
            }
            XCTAssertTrue(returned, "a session returns to its instance when the instance is back")
        }
    }

    // MARK: Faults

    func testKillingAnInstanceUnderLoadLeavesNoRequestUnanswered() async throws {
        let block = try await readyBlock("loaded", instances: 3)
        let pids = (block["instances"]?.arrayValue ?? []).compactMap { $0["pid"]?.intValue }
        XCTAssertEqual(pids.count, 3)
        let deadline: Duration = .seconds(5)
        let results = try await GatewayClient.with(platform) { gateway in
            try await withThrowingTaskGroup(of: [(GatewayClient.Outcome, Double)].self) { group in
                for client in 0..<64 {
                    group.addTask {
                        var outcomes: [(GatewayClient.Outcome, Double)] = []
                        let end = Date().addingTimeInterval(3)
                        var seq: UInt64 = 0
                        while Date() < end {
                            let started = Date()
                            let outcome = await gateway.infer(block: "loaded", session: "client-\(client)", seq: seq, data: ["text": "load"], timeout: deadline)
                            outcomes.append((outcome, Date().timeIntervalSince(started)))
                            seq += 1
                        }
                        return outcomes
                    }
                }
                group.addTask {
                    try await Task.sleep(for: .seconds(1))
                    kill(Int32(pids[0]), SIGKILL)
                    return []
                }
                var all: [(GatewayClient.Outcome, Double)] = []
                for try await outcomes in group { all += outcomes }
                return all
            }
        }
        let failures = results.filter { $0.0.data == nil }
        let slowest = results.map(\.1).max() ?? 0
        print("gateway under load with a killed instance: \(results.count) requests, \(failures.count) failed (\(Set(failures.map { "\($0.0.code.map { "\($0)" } ?? "-")" }))), slowest \(String(format: "%.3f", slowest)) s")
        XCTAssertGreaterThan(results.count, 64)
        XCTAssertLessThan(slowest, 6, "every request is answered or gets a status within its deadline")
        for (outcome, _) in failures {
            XCTAssertNotNil(outcome.code, "a failure is a status: \(outcome.message)")
            XCTAssertFalse(outcome.message.isEmpty)
        }
        XCTAssertLessThan(failures.count, results.count / 20, "retries absorb an instance's death: \(failures.prefix(3).map(\.0.message))")
    }

    func testAFullBlockAnswersResourceExhaustedAndABrokenOneUnavailable() async throws {
        try await readyBlock("narrow", loadBalancer: [
            "policyRuleURI": "policy.loadBalancer.least-inflight:v1",
            "settings": ["max_inflight_per_instance": 1, "max_queued_requests": 1],
        ])
        try await GatewayClient.with(platform) { gateway in
            let outcomes = await withTaskGroup(of: GatewayClient.Outcome.self) { group in
                for _ in 0..<4 {
                    group.addTask { await gateway.infer(block: "narrow", data: ["sleep_ms": 1500]) }
                }
                var all: [GatewayClient.Outcome] = []
                for await outcome in group { all.append(outcome) }
                return all
            }
            XCTAssertEqual(outcomes.filter { $0.data != nil }.count, 2, "one runs, one waits in the queue: \(outcomes.map(\.message))")
            let exhausted = outcomes.filter { $0.code == .resourceExhausted }
            XCTAssertEqual(exhausted.count, 2, outcomes.map(\.message).joined(separator: "; "))
            XCTAssertTrue(exhausted.first?.message.contains("at capacity") == true)
        }

        var broken = Fixtures.chatComponent.objectValue!
        broken["componentId"] = ["name": "broken", "version": "1.0.0", "releaseTag": "stable"]
        broken["runtime"] = ["type": "process", "command": ["/bin/false"], "cwd": "/"]
        _ = try await platform.post("/api/addComponent", json: .object(broken))
        _ = try await platform.post("/api/createBlock", json: ["blockId": "broken", "blockComponentURI": "model.broken:1.0.0-stable", "minInstances": 1, "maxInstances": 1])
        try await GatewayClient.with(platform) { gateway in
            let outcome = await gateway.infer(block: "broken", data: ["text": "x"])
            XCTAssertEqual(outcome.code, .unavailable, outcome.message)
            XCTAssertTrue(outcome.message.contains("no healthy instance"), outcome.message)
        }
    }

    // MARK: Management

    func testManagementCommandsReachEveryInstanceAndParametersPersist() async throws {
        try await readyBlock("managed", instances: 2)
        let env = try await platform.post("/api/executeMgmtCommand", json: Fixtures.envelope(["blockId": "managed", "service": "instances", "mgmtCommand": "env", "mgmtData": [:]]))
        XCTAssertEqual(env.status, 200, env.body.jsonString())
        let answers = env.body["data"]?.arrayValue ?? []
        XCTAssertEqual(Set(answers.compactMap { $0["data"]?["AIOS_INSTANCE_ID"]?.stringValue }).count, 2, env.body.jsonString())

        let update = try await platform.post("/api/executeMgmtCommand", json: ["blockId": "managed", "mgmtCommand": "set_parameters", "mgmtData": ["temperature": 0.2]])
        XCTAssertEqual(update.body["success"], true, update.body.jsonString())
        XCTAssertEqual(update.body["data"]?.arrayValue?.compactMap { $0["data"]?["temperature"] }, [0.2, 0.2])
        let stored = try await platform.get("/api/blocks/managed")
        XCTAssertEqual(stored.body["resolved"]?["parameters"]?["temperature"], 0.2)

        // A restarted instance starts with the stored parameters.
        let crash = try await platform.post("/api/executeMgmtCommand", json: ["blockId": "managed", "mgmtCommand": "crash", "instanceId": .string(answers[0]["instanceId"]?.stringValue ?? "")])
        XCTAssertEqual(crash.body["success"], false, "the crashing instance does not answer")
        try await platform.waitForBlock("managed") { block in
            (block["instances"]?.arrayValue ?? []).allSatisfy { $0["healthy"]?.boolValue == true && ($0["restarts"]?.intValue ?? 0) <= 1 }
                && (block["instances"]?.arrayValue ?? []).contains { ($0["restarts"]?.intValue ?? 0) == 1 }
        }
        let after = try await platform.post("/api/blocks/managed/parameters", json: ["parameters": [:]])
        XCTAssertEqual(after.body["data"]?.arrayValue?.compactMap { $0["data"]?["temperature"] }, [0.2, 0.2], after.body.jsonString())

        let bad = try await platform.post("/api/executeMgmtCommand", json: ["blockId": "managed", "service": "scheduler"])
        XCTAssertEqual(bad.status, 400)
        XCTAssertEqual(Set(bad.body["error"]?["fields"]?.arrayValue?.compactMap { $0["path"]?.stringValue } ?? []), ["mgmtCommand", "service"])
        let missing = try await platform.post("/api/executeMgmtCommand", json: ["blockId": "ghost", "mgmtCommand": "env"])
        XCTAssertEqual(missing.status, 404)

        // The CLI: `aios mgmt` and `aios infer`.
        let cli = try Command.run([PlatformProcess.executable.path, "mgmt", "managed", "env", "--server", platform.url], environment: platform.auth)
        XCTAssertEqual(cli.status, 0, cli.stderr)
        XCTAssertTrue(cli.stdout.contains("AIOS_INSTANCE_ID"), cli.stdout)
        let infer = try Command.run([PlatformProcess.executable.path, "infer", "managed", "--data", #"{"text": "from the cli"}"#, "--server", platform.url], environment: platform.auth)
        XCTAssertEqual(infer.status, 0, infer.stderr)
        XCTAssertTrue(infer.stdout.contains("FROM THE CLI"), infer.stdout)
        let inferMissing = try Command.run([PlatformProcess.executable.path, "infer", "ghost", "--data", "{}", "--server", platform.url], environment: platform.auth)
        XCTAssertNotEqual(inferMissing.status, 0)
        XCTAssertTrue(inferMissing.stderr.contains("NOT_FOUND"), inferMissing.stderr)
    }
}
