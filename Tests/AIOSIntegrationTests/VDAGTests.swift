import AIOSModel
import Foundation
import XCTest

/// vDAGs over real blocks (the Swift echo, `model.chat`, and the Python wordcount): created through the
/// parser API, served by controllers, called with a Python `grpcio` client generated from AIOS's vDAG proto.
final class VDAGTests: EchoPlatformTestCase {
    override class var directoryName: String { "vdag" }

    private func post(_ path: String, _ body: JSONValue, expect status: Int = 200) async throws -> JSONValue {
        let reply = try await platform.post(path, json: body)
        XCTAssertEqual(reply.status, status, "\(path): \(reply.body.jsonString(pretty: true))")
        return reply.body
    }

    private func readyBlock(_ id: String, component: String = "model.chat:1.0.0-stable") async throws {
        try await post("/api/createBlock", Fixtures.envelope([
            "blockId": .string(id), "blockComponentURI": .string(component), "minInstances": 1, "maxInstances": 1,
        ]))
        try await platform.waitForPhase(id, "Ready", timeout: 30)
    }

    /// A vDAG spec: nodes as (label, manual block id or filter), connections as (child, parents).
    private func vdag(_ name: String, nodes: [(String, JSONValue)], connections: [(String, [String])],
                      controller: JSONValue = ["initSettings": ["maxOutputWaitTimeSeconds": 10]]) -> JSONValue {
        Fixtures.envelope([
            "vdagName": .string(name), "vdagVersion": ["version": "0.0.1", "release-tag": "stable"],
            "discoveryTags": ["test"], "controller": controller,
            "nodes": .array(nodes.map { label, assignment in
                var values: [String: JSONValue] = ["nodeLabel": .string(label), "nodeType": "block"]
                if let block = assignment.stringValue {
                    values["manualBlockId"] = .string(block)
                } else {
                    values["assignmentPolicyRule"] = ["policyRuleURI": "policies.assignment.filter:v1", "parameters": ["filter": assignment]]
                }
                return ["spec": ["values": .object(values)], "IOMap": []]
            }),
            "graph": ["connections": .array(connections.map { child, parents in
                ["nodeLabel": .string(child), "inputs": .array(parents.map { ["nodeLabel": .string($0)] })]
            })],
        ])
    }

    @discardableResult
    private func controller(_ id: String, vdag: String, port: Int? = nil) async throws -> String {
        var config: [String: JSONValue] = [:]
        if let port { config["port"] = .number(Double(port)) }
        let reply = try await post("/vdag-controller/local", [
            "action": "create_controller",
            "payload": ["vdag_controller_id": .string(id), "vdag_uri": .string(vdag), "config": .object(config)],
        ])
        return try XCTUnwrap(reply["data"]?["grpc_address"]?.stringValue, reply.jsonString())
    }

    /// Calls `vDAGInferenceService/infer` with the Python client; one JSON object per call.
    private func call(_ address: String, _ data: JSONValue, session: String = "s", extra: [String] = []) throws -> [[String: Any]] {
        let run = try Command.run([Command.python, Command.client("vdag_client.py"), address, "--data", data.jsonString(),
                                   "--session", session] + extra, environment: platform.auth, timeout: 60)
        XCTAssertEqual(run.status, 0, run.stderr)
        return run.jsonLines
    }

    private func data(_ reply: [String: Any]?) -> JSONValue {
        JSONValue.decodeJSON(Data(((reply?["data"] as? String) ?? "").utf8)) ?? .null
    }

    func testAChainRunsDetectorThenTrackerAndComesBackAfterARestart() async throws {
        try await post("/api/addComponent", try Fixtures.exampleComponent("python-wordcount"))
        try await readyBlock("detector")
        try await readyBlock("tracker", component: "model.wordcount:1.0.0-stable")
        let created = try await post("/api/createvDAG", vdag("chain", nodes: [
            ("detector", "detector"),
            ("tracker", ["variable": "block.componentURI", "operator": "==", "value": "model.wordcount:1.0.0-stable"]),
        ], connections: [("tracker", ["detector"])]))
        XCTAssertEqual(created["result"]?["assignment"], ["detector": "detector", "tracker": "tracker"], created.jsonString())
        let address = try await controller("chain-ctl", vdag: "chain:0.0.1-stable")

        let replies = try call(address, ["text": "hello there world"], extra: ["--frame-ptr", "frame-7", "--seq", "5"])
        let reply = try XCTUnwrap(replies.first)
        XCTAssertEqual(reply["ok"] as? Bool, true, "\(reply)")
        XCTAssertEqual(data(reply)["words"], 3, "the tracker counted the detector's output: \(reply)")
        XCTAssertEqual(reply["frame_ptr"] as? String, "frame-7", "frame_ptr travels end to end")
        XCTAssertEqual(reply["seq_no"] as? Int, 5)

        // REST, through the same controller.
        let rest = try await post("/v1/vdags/chain-ctl/infer", ["data": ["text": "one two"], "session_id": "r"])
        XCTAssertEqual(rest["data"]?["words"], 2, rest.jsonString())

        // Metrics per controller and node.
        let described = try await platform.get("/api/vdags/chain:0.0.1-stable").body
        let metrics = described["controllers"]?.arrayValue?.first?["metrics"]
        XCTAssertEqual(metrics?["requests"]?["total"], 2, described.jsonString(pretty: true))
        XCTAssertEqual(metrics?["nodes"]?["tracker"]?["total"], 2, described.jsonString(pretty: true))
        let text = try Command.run(["curl", "-sS", "--max-time", "5", "\(platform.url)/metrics"], environment: platform.auth).stdout
        XCTAssertTrue(text.contains("aios_vdag_requests_total{controller=\"chain-ctl\",vdag=\"chain:0.0.1-stable\",node=\"tracker\"} 2"), text)

        // aios up restarts: the controller serves again on the same port.
        XCTAssertEqual(platform.stop(), 0, platform.log)
        platform = try PlatformProcess(dataDirectory: directory)
        try await platform.waitForPhase("tracker", "Ready", timeout: 30)
        let again = try XCTUnwrap(try call(address, ["text": "a b c d"]).first)
        XCTAssertEqual(data(again)["words"], 4, "\(again)")
    }

    func testADiamondJoinsItsBranchesAndTwoOutputsComeBackTogether() async throws {
        for id in ["a", "b", "c", "d"] { try await readyBlock(id) }
        try await post("/api/createvDAG", vdag("diamond", nodes: [("a", "a"), ("b", "b"), ("c", "c"), ("d", "d")],
                                                connections: [("b", ["a"]), ("c", ["a"]), ("d", ["c", "b"])]))
        let diamond = try await controller("diamond-ctl", vdag: "diamond:0.0.1-stable")
        let attachment = directory.appendingPathComponent("frame.bin")
        try Data(repeating: 9, count: 1234).write(to: attachment)
        let joined = try XCTUnwrap(try call(diamond, ["text": "hi"], extra: ["--file", attachment.path]).first)
        XCTAssertEqual(joined["ok"] as? Bool, true, "\(joined)")
        // d (the echo) received {"inputs": [c's output, b's output]} and upper-cased it.
        let text = data(joined)["text"]?.stringValue ?? ""
        XCTAssertTrue(text.hasPrefix("{\"INPUTS\":["), text)
        XCTAssertEqual(text.components(separatedBy: "\"TEXT\":\"HI\"").count - 1, 2, "both branches arrive: \(text)")
        // The file went through a, then both branches; d received both copies, and so does the client.
        XCTAssertEqual(data(joined)["files"]?.arrayValue?.compactMap { $0["size"]?.intValue }, [1234, 1234], "\(joined)")
        XCTAssertEqual((joined["files"] as? [[String: Any]])?.compactMap { $0["size"] as? Int }, [1234, 1234], "\(joined)")

        try await post("/api/createvDAG", vdag("fork", nodes: [("a", "a"), ("b", "b"), ("c", "c")],
                                                connections: [("b", ["a"]), ("c", ["a"])]))
        let fork = try await controller("fork-ctl", vdag: "fork:0.0.1-stable")
        let both = try XCTUnwrap(try call(fork, ["text": "yo"]).first)
        let outputs = data(both)["outputs"]
        XCTAssertEqual(outputs?["b"]?["text"], "YO", "\(both)")
        XCTAssertEqual(outputs?["c"]?["text"], "YO", "\(both)")
    }

    func testFailuresNameTheNodeQuotaIsEnforcedAndBadGraphsAreRefused() async throws {
        for id in ["first", "second"] { try await readyBlock(id) }
        try await post("/api/createvDAG", vdag("guarded", nodes: [("first", "first"), ("second", "second")],
                                                connections: [("second", ["first"])],
                                                controller: ["initSettings": ["maxOutputWaitTimeSeconds": 1],
                                                             "quotaChecker": ["enabled": true, "quotaCheckerPolicyRule": [
                                                                 "policyRuleURI": "policies.quota_checkers.sample:v1-stable",
                                                                 "parameters": ["max_requests": 2, "window_seconds": 60]]]]))
        let address = try await controller("guarded-ctl", vdag: "guarded:0.0.1-stable")

        let failed = try XCTUnwrap(try call(address, ["fail": true], session: "f1").first)
        XCTAssertEqual(failed["code"] as? String, "INTERNAL", "\(failed)")
        XCTAssertTrue((failed["details"] as? String ?? "").contains("node first (block first)"), "\(failed)")

        let hung = try XCTUnwrap(try call(address, ["text": "slow", "sleep_ms": 5000], session: "h1").first)
        XCTAssertEqual(hung["code"] as? String, "DEADLINE_EXCEEDED", "\(hung)")
        XCTAssertTrue((hung["details"] as? String ?? "").contains("node first"), "\(hung)")
        XCTAssertLessThan(hung["elapsed_s"] as? Double ?? 99, 3, "the vDAG's deadline (1 s) ends it: \(hung)")

        let quota = try call(address, ["text": "x"], session: "q1", extra: ["--repeat", "3"])
        XCTAssertEqual(quota.map { $0["ok"] as? Bool }, [true, true, false], "\(quota)")
        XCTAssertEqual(quota.last?["code"] as? String, "RESOURCE_EXHAUSTED", "\(quota)")
        let otherSession = try XCTUnwrap(try call(address, ["text": "x"], session: "q2").first)
        XCTAssertEqual(otherSession["ok"] as? Bool, true, "the quota is per session: \(otherSession)")

        // Bad graphs: each refused with the path of the problem, nothing stored.
        func refused(_ spec: JSONValue) async throws -> [String] {
            let reply = try await post("/api/createvDAG", spec, expect: 400)
            return reply["error"]?["fields"]?.arrayValue?.compactMap { $0["path"]?.stringValue } ?? []
        }
        let cycle = try await platform.post("/api/createvDAG", json: vdag("loop", nodes: [("first", "first"), ("second", "second")],
                                                                          connections: [("second", ["first"]), ("first", ["second"])]))
        XCTAssertEqual(cycle.status, 400)
        XCTAssertTrue(cycle.body.jsonString().contains("cycle"), cycle.body.jsonString())
        let unknown = try await refused(vdag("typo", nodes: [("first", "first")], connections: [("first", ["nope"])]))
        XCTAssertEqual(unknown, ["body.spec.values.graph.connections[0].inputs[0].nodeLabel"])
        let missingBlock = try await refused(vdag("ghost", nodes: [("first", "no-such-block")], connections: []))
        XCTAssertEqual(missingBlock, ["body.spec.values.nodes[0].spec.values.manualBlockId"])
        let noMatch = try await refused(vdag("picky", nodes: [("first", ["variable": "block.blockId", "operator": "==", "value": "zzz"])], connections: []))
        XCTAssertEqual(noMatch, ["body.spec.values.nodes[0].spec.values.assignmentPolicyRule.parameters.filter"])
        var validate = vdag("typo", nodes: [("first", "first"), ("second", "nowhere")], connections: [("second", ["first"])]).objectValue ?? [:]
        validate["body"] = Fixtures.withSpecValues(.object(validate)) { $0["mode"] = "validateGraph" }["body"]
        let checked = try await post("/api/createvDAG", .object(validate))
        XCTAssertEqual(checked["result"]?["valid"], true, checked.jsonString())
        XCTAssertEqual(checked["result"]?["assignmentProblems"]?.arrayValue?.first?["path"], "body.spec.values.nodes[1].spec.values.manualBlockId")
        let vdags = try await platform.get("/api/vdags").body.arrayValue?.compactMap { $0["vdagURI"]?.stringValue }
        XCTAssertEqual(vdags, ["guarded:0.0.1-stable"], "validation and refusals store nothing")

        // A vDAG in use cannot be removed; its controller can, and then the vDAG.
        let listed = try await post("/vdag-controller/local", ["action": "list_controllers"])
        XCTAssertEqual(listed["data"]?.arrayValue?.compactMap { $0["vdag_controller_id"]?.stringValue }, ["guarded-ctl"])
        try await post("/api/removevDAG", ["vdagURI": "guarded:0.0.1-stable"], expect: 409)
        try await post("/vdag-controller/local", ["action": "remove_controller", "payload": ["vdag_controller_id": "guarded-ctl"]])
        let gone = try XCTUnwrap(try call(address, ["text": "x"], session: "q3", extra: ["--timeout", "2"]).first)
        XCTAssertEqual(gone["code"] as? String, "UNAVAILABLE", "the controller's port is closed: \(gone)")
        try await post("/api/removevDAG", ["vdagURI": "guarded:0.0.1-stable"])
        let left = try await platform.get("/api/vdags").body.arrayValue ?? []
        XCTAssertEqual(left, [])
    }
}
