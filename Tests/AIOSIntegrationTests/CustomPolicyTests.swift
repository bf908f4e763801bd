import AIOSModel
import Foundation
import XCTest

/// Users' policies, registered as code and run in real sandboxed workers (bubblewrap where it runs here, else
/// `--policy-sandbox rlimits-only`) by a real `aios up`: each policy point, what the events say, and hostile
/// policies contained.
final class CustomPolicyTests: XCTestCase {
    var directory: URL!
    var platform: PlatformProcess!
    /// The sandbox the platform runs with here.
    var sandbox = "bwrap"

    override func setUp() async throws {
        guard PlatformProcess.pythonVirtualEnv != nil else { throw XCTSkip("custom policies need the repository's .venv (make venv)") }
        sandbox = PolicyArchive.bubblewrapWorks ? "bwrap" : "rlimits-only"
        directory = temporaryDirectory("policies")
        platform = try PlatformProcess(dataDirectory: directory, arguments: ["--policy-sandbox", sandbox])
        let reply = try await platform.post("/api/addComponent", json: Fixtures.envelope(Fixtures.chatComponent))
        XCTAssertEqual(reply.status, 200, reply.body.jsonString())
    }

    override func tearDown() async throws {
        if (testRun?.failureCount ?? 0) > 0, let log = platform?.log { print("aios up's log (last 6000 characters):\n\(log.suffix(6000))") }
        platform?.stop()
        platform = nil
        try? FileManager.default.removeItem(at: directory)
    }

    // MARK: Helpers

    /// Registers a policy whose `code/function.py` is `source`; returns the reply.
    @discardableResult
    func register(_ name: String, kind: String, source: String, version: String = "v1", parameters: JSONValue = [:],
                  settings: JSONValue = [:], expect status: Int = 201) async throws -> PlatformProcess.Reply {
        let archive = try PolicyArchive.tarGz(["code/function.py": source])
        let reply = try await platform.post("/api/policies", json: [
            "name": .string(name), "version": .string(version), "type": .string(kind),
            "policy_parameters": parameters, "policy_settings": settings, "description": "test policy",
            "code": ["archive": .string(archive.base64EncodedString())],
        ])
        XCTAssertEqual(reply.status, status, reply.body.jsonString())
        return reply
    }

    /// A block of the echo component on cluster `local` (or `cluster`) with `policies` (name → rule values).
    func createBlock(_ id: String, min: Int = 1, max: Int = 1, policies: [String: JSONValue]) async throws -> PlatformProcess.Reply {
        var rules: [JSONValue] = []
        for (name, rule) in policies.sorted(by: { $0.key < $1.key }) {
            var values = rule.objectValue ?? [:]
            values["name"] = .string(name)
            rules.append(["values": .object(values)])
        }
        return try await platform.post("/api/createBlock", json: Fixtures.envelope([
            "blockId": .string(id), "blockComponentURI": "model.chat:1.0.0-stable",
            "minInstances": .number(Double(min)), "maxInstances": .number(Double(max)), "policyRulesSpec": .array(rules),
        ]))
    }

    func events(_ block: JSONValue, _ type: String) -> [String] {
        (block["events"]?.arrayValue ?? []).filter { $0["type"]?.stringValue == type }.compactMap { $0["message"]?.stringValue }
    }

    func waitForEvent(_ blockId: String, _ type: String, containing text: String, timeout: TimeInterval = 30) async throws -> JSONValue {
        try await platform.waitForBlock(blockId, timeout: timeout) { block in
            events(block, type).contains { $0.contains(text) }
        }
    }

    func policy(_ uri: String) async throws -> JSONValue {
        try await platform.get("/api/policies/\(uri)").body
    }

    func waitForPolicy(_ uri: String, status: String, timeout: TimeInterval = 30) async throws -> JSONValue {
        let deadline = Date().addingTimeInterval(timeout)
        var last: JSONValue = .null
        while Date() < deadline {
            last = try await policy(uri)
            if last["status"]?.stringValue == status { return last }
            try await Task.sleep(for: .milliseconds(100))
        }
        XCTFail("policy \(uri) did not become \(status): \(last.jsonString())")
        return last
    }

    // MARK: Registry

    func testRegistryStoresChecksListsAndRemoves() async throws {
        let reply = try await register("policy.loadBalancer.first", kind: "loadBalancer", source: PolicySources.firstInstance,
                                       parameters: ["a": 1], settings: ["s": true])
        let result = reply.body["result"] ?? .null
        XCTAssertEqual(result["policy_rule_uri"]?.stringValue, "policy.loadBalancer.first:v1")
        XCTAssertTrue(result["code"]?["digest"]?.stringValue?.hasPrefix("sha256:") == true, result.jsonString())
        XCTAssertEqual(result["status"]?.stringValue, "Idle")

        // AIOS's URI formula with a release tag; the kind from the name must agree with `type`.
        let tagged = try await platform.post("/api/policies", json: [
            "name": "pack", "version": "1.0", "release_tag": "stable", "type": "resourceAllocator",
            "code": ["archive": .string(try PolicyArchive.tarGz(["code/function.py": PolicySources.firstInstance]).base64EncodedString())],
        ])
        XCTAssertEqual(tagged.body["result"]?["policy_rule_uri"]?.stringValue, "pack:1.0-stable", tagged.body.jsonString())
        let list = try await platform.get("/api/policies").body.arrayValue ?? []
        XCTAssertEqual(Set(list.compactMap { $0["policy_rule_uri"]?.stringValue }), ["policy.loadBalancer.first:v1", "pack:1.0-stable"])

        // Bad documents and archives name the field; nothing is stored.
        let wrongKind = try await platform.post("/api/policies", json: [
            "name": "policy.autoscaler.x", "version": "1", "type": "loadBalancer", "code": ["archive": "AAAA"],
        ])
        XCTAssertEqual(wrongKind.status, 400)
        XCTAssertTrue(wrongKind.body.jsonString().contains("\"type\""), wrongKind.body.jsonString())
        let traversal = try await platform.post("/api/policies", json: [
            "name": "evil", "version": "1", "type": "loadBalancer",
            "code": ["archive": .string(try PolicyArchive.tarGz(["code/function.py": PolicySources.firstInstance, "code/../../escape.py": "x"]).base64EncodedString())],
        ])
        XCTAssertEqual(traversal.status, 400, traversal.body.jsonString())
        XCTAssertTrue(traversal.body.jsonString().contains("code"), traversal.body.jsonString())
        let noFunction = try await platform.post("/api/policies", json: [
            "name": "empty", "version": "1", "type": "loadBalancer",
            "code": ["archive": .string(try PolicyArchive.tarGz(["code/other.py": "x = 1\n"]).base64EncodedString())],
        ])
        XCTAssertEqual(noFunction.status, 400, noFunction.body.jsonString())
        let url = try await platform.post("/api/policies", json: ["name": "remote", "version": "1", "type": "loadBalancer", "code": "https://example.com/p.zip"])
        XCTAssertEqual(url.status, 400)
        let missing = try await platform.get("/api/policies/evil:1")
        XCTAssertEqual(missing.status, 404)

        // Registering needs deploy or admin: a read token is refused.
        let read = try await platform.post("/api/tokens", json: ["name": "reader", "scopes": ["read"]]).body["token"]?.stringValue
        let refused = try await platform.post("/api/policies", json: ["name": "x", "version": "1"], token: .some(read))
        XCTAssertEqual(refused.status, 403)

        // A policy in use cannot be removed; after its block is gone it can.
        let created = try await createBlock("lb-user", policies: ["loadBalancer": ["policyRuleURI": "policy.loadBalancer.first:v1"]])
        XCTAssertEqual(created.status, 200, created.body.jsonString())
        let blocked = try await platform.delete("/api/policies/policy.loadBalancer.first:v1")
        XCTAssertEqual(blocked.status, 409, blocked.body.jsonString())
        XCTAssertTrue(blocked.body.jsonString().contains("lb-user"))
        // ... and a block may not use it as another kind.
        let misuse = try await createBlock("misuse", policies: ["autoscaler": ["policyRuleURI": "policy.loadBalancer.first:v1"]])
        XCTAssertEqual(misuse.status, 400, misuse.body.jsonString())
        _ = try await platform.post("/api/removeBlock", json: ["blockId": "lb-user"])
        let removed = try await platform.delete("/api/policies/policy.loadBalancer.first:v1")
        XCTAssertEqual(removed.status, 200, removed.body.jsonString())
        let gone = try await platform.get("/api/policies/policy.loadBalancer.first:v1")
        XCTAssertEqual(gone.status, 404)
    }

    /// `aios apply -f` of an AIOS policy document naming its archive by path, a multipart upload, and both
    /// policies back (and deciding) after a restart.
    func testApplyMultipartAndRestart() async throws {
        let files = temporaryDirectory("policy-files")
        try FileManager.default.createDirectory(at: files, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: files) }
        try PolicyArchive.tarGz(["code/function.py": PolicySources.firstInstance]).write(to: files.appendingPathComponent("first.tar.gz"))
        try Data("""
            name: policy.loadBalancer.first
            version: "1.0"
            release_tag: stable
            policy_parameters: {}
            description: always the first ready instance
            code: first.tar.gz
            """.utf8).write(to: files.appendingPathComponent("policy.yaml"))
        let applied = try Command.run([PlatformProcess.executable.path, "apply", "-f", files.appendingPathComponent("policy.yaml").path, "--server", platform.url],
                                      environment: platform.auth)
        XCTAssertEqual(applied.status, 0, applied.stderr)
        XCTAssertTrue(applied.stdout.contains("policy policy.loadBalancer.first:1.0-stable (loadBalancer, archive sha256:"), applied.stdout)

        try Data(#"{"name": "multi", "version": "2", "type": "loadBalancer"}"#.utf8).write(to: files.appendingPathComponent("spec.json"))
        let curl = try Command.run(["curl", "-s", "-w", "\n%{http_code}", "-F", "spec=@\(files.appendingPathComponent("spec.json").path)",
                                    "-F", "code=@\(files.appendingPathComponent("first.tar.gz").path)", "\(platform.url)/api/policies"], environment: platform.auth)
        XCTAssertTrue(curl.stdout.hasSuffix("\n201"), curl.stdout)
        XCTAssertTrue(curl.stdout.contains("\"policy_rule_uri\":\"multi:2\""), curl.stdout)

        platform.stop()
        platform = try PlatformProcess(dataDirectory: directory, arguments: ["--policy-sandbox", sandbox])
        let listed = try await platform.get("/api/policies").body.arrayValue ?? []
        XCTAssertEqual(Set(listed.compactMap { $0["policy_rule_uri"]?.stringValue }), ["policy.loadBalancer.first:1.0-stable", "multi:2"])
        let created = try await createBlock("after-restart", policies: ["loadBalancer": ["policyRuleURI": "multi:2"]])
        XCTAssertEqual(created.status, 200, created.body.jsonString())
        _ = try await platform.waitForPhase("after-restart", "Ready", timeout: 60)
        _ = try await waitForPolicy("multi:2", status: "Ready")
        let reply = try await platform.post("/v1/infer", json: ["block_id": "after-restart", "data": ["text": "hi"]])
        XCTAssertEqual(reply.status, 200, reply.body.jsonString())
        _ = try await waitForEvent("after-restart", "PolicyDecided", containing: "loadBalancer policy multi:2 chose")
    }

    /// Where bubblewrap cannot run, custom policies are refused (saying how to allow them); with
    /// `--policy-sandbox rlimits-only` they run with resource limits only.
    func testWithoutBubblewrapOnlyRlimitsOnlyRunsThem() async throws {
        platform.stop()
        platform = try PlatformProcess(dataDirectory: directory, arguments: ["--policy-bwrap", "/nonexistent/bwrap"])
        let refused = try await register("policy.loadBalancer.first", kind: "loadBalancer", source: PolicySources.firstInstance, expect: 503)
        XCTAssertTrue(refused.body.jsonString().contains("--policy-sandbox rlimits-only"), refused.body.jsonString())
        XCTAssertTrue(platform.log.contains("custom policies are unavailable"), "aios up says so in its log")

        platform.stop()
        platform = try PlatformProcess(dataDirectory: directory, arguments: ["--policy-bwrap", "/nonexistent/bwrap", "--policy-sandbox", "rlimits-only"])
        try await register("policy.loadBalancer.first", kind: "loadBalancer", source: PolicySources.firstInstance)
        let limited = try await createBlock("limited", min: 2, max: 2, policies: ["loadBalancer": ["policyRuleURI": "policy.loadBalancer.first:v1"]])
        XCTAssertEqual(limited.status, 200, limited.body.jsonString())
        _ = try await platform.waitForPhase("limited", "Ready", timeout: 60)
        _ = try await waitForPolicy("policy.loadBalancer.first:v1", status: "Ready")
        var servedBy: Set<String> = []
        for _ in 0..<4 {
            let reply = try await platform.post("/v1/infer", json: ["block_id": "limited", "data": ["text": "hi"]])
            servedBy.insert(reply.body["data"]?["instanceId"]?.stringValue ?? "?")
        }
        XCTAssertEqual(servedBy.count, 1, "the policy (always the first instance) decides: \(servedBy)")
    }

    /// A policy's requirements go into a virtualenv of its own (as wheels from the index) that its sandbox uses;
    /// lines that are not package names are refused, naming the file.
    func testRequirementsGoIntoTheirOwnVirtualenv() async throws {
        let refused = try await platform.post("/api/policies", json: [
            "name": "local-path", "version": "1", "type": "loadBalancer",
            "code": ["archive": .string(try PolicyArchive.tarGz(["code/function.py": PolicySources.firstInstance, "code/requirements.txt": "-e /etc\n"]).base64EncodedString())],
        ])
        XCTAssertEqual(refused.status, 400, refused.body.jsonString())
        XCTAssertTrue(refused.body.jsonString().contains("code.requirements.txt"), refused.body.jsonString())

        guard PolicyArchive.indexReachable else { throw XCTSkip("pypi.org cannot be reached from here: the install itself is not tried") }
        let source = """
            import six
            class AIOSv1PolicyRule:
                def __init__(self, rule_id, settings, parameters):
                    pass
                def eval(self, parameters, input_data, context):
                    assert six.__file__.startswith("/tmp/aios-policies-") or "/policies/run/venvs/" in six.__file__, six.__file__
                    return {"instance_id": sorted(input_data["instances"])[0]}
            """
        let archive = try PolicyArchive.tarGz(["code/function.py": source, "code/requirements.txt": "# a pure-Python wheel\nsix==1.16.0\n"])
        let registered = try await platform.post("/api/policies", json: [
            "name": "policy.loadBalancer.with-six", "version": "1", "code": ["archive": .string(archive.base64EncodedString())],
        ])
        XCTAssertEqual(registered.status, 201, registered.body.jsonString())
        XCTAssertEqual(registered.body["result"]?["code"]?["hasRequirements"]?.boolValue, true)
        let created = try await createBlock("with-six", policies: ["loadBalancer": ["policyRuleURI": "policy.loadBalancer.with-six:1"]])
        XCTAssertEqual(created.status, 200, created.body.jsonString())
        _ = try await platform.waitForPhase("with-six", "Ready", timeout: 60)
        _ = try await waitForPolicy("policy.loadBalancer.with-six:1", status: "Ready")
        let reply = try await platform.post("/v1/infer", json: ["block_id": "with-six", "data": ["text": "hi"]])
        XCTAssertEqual(reply.status, 200, reply.body.jsonString())
        _ = try await waitForEvent("with-six", "PolicyDecided", containing: "loadBalancer policy policy.loadBalancer.with-six:1 chose")
        let platformHasSix = try Command.run([Command.python, "-c", "import six"])
        XCTAssertNotEqual(platformHasSix.status, 0, "the requirement went into the policy's venv, not the platform's")
    }

    // MARK: Policy points

    /// AIOS's example load balancer (`python/aios_policy/examples`), unchanged, pins a header's requests to one instance.
    func testLoadBalancerPinsByHeader() async throws {
        let code = try String(contentsOf: PolicyArchive.example("load_balancer_session_pinning"), encoding: .utf8)
        try await register("policy.loadBalancer.session-pinning", kind: "loadBalancer", source: code)
        let uri = "policy.loadBalancer.session-pinning:v1"
        let created = try await createBlock("pinned", min: 3, max: 3, policies: ["loadBalancer": ["policyRuleURI": .string(uri), "parameters": ["header": "x-user"]]])
        XCTAssertEqual(created.status, 200, created.body.jsonString())
        _ = try await platform.waitForPhase("pinned", "Ready", timeout: 60)
        _ = try await waitForPolicy(uri, status: "Ready")

        var servedBy: [String: Set<String>] = [:]
        for round in 0..<4 {
            for user in ["alice", "bob", "carol"] {
                let reply = try await platform.post("/v1/infer", json: ["block_id": "pinned", "session_id": .string("s-\(round)"), "data": ["text": .string(user)]],
                                                    headers: [("x-user", user)])
                XCTAssertEqual(reply.status, 200, reply.body.jsonString())
                servedBy[user, default: []].insert(reply.body["data"]?["instanceId"]?.stringValue ?? "?")
            }
        }
        for (user, instances) in servedBy { XCTAssertEqual(instances.count, 1, "\(user) went to \(instances)") }
        XCTAssertGreaterThan(Set(servedBy.values.flatMap { $0 }).count, 1, "new users are spread: \(servedBy)")
        let block = try await waitForEvent("pinned", "PolicyDecided", containing: "loadBalancer policy \(uri) chose")
        XCTAssertEqual(events(block, "PolicyFallback"), [], "the worker was ready before the first request: the policy decided every one")
        let status = try await policy(uri)
        XCTAssertGreaterThanOrEqual(status["calls"]?.intValue ?? 0, 12, status.jsonString())
    }

    /// A clusterAllocator that picks the cluster with the most free GPU memory among those with a label, and a
    /// resourceAllocator that packs both instances on the node with the lowest id.
    func testClusterAndResourceAllocators() async throws {
        for (id, tags, free) in [("blue-small", ["blue"], 10_000.0), ("blue-big", ["blue"], 30_000.0), ("red-huge", ["red"], 70_000.0)] {
            var cluster = Fixtures.gpuCluster.objectValue ?? [:]
            cluster["id"] = .string(id)
            cluster["tags"] = .array(tags.map(JSONValue.string))
            cluster["nodes"] = ["count": 2, "nodeData": [
                ["id": "n1", "vcpus": ["count": 32], "memory": 256000, "gpus": ["gpus": [["modelName": "A100", "memory": 40960], ["modelName": "A100", "memory": 40960]]]],
                ["id": "n2", "vcpus": ["count": 32], "memory": 256000, "gpus": ["gpus": [["modelName": "A100", "memory": 40960], ["modelName": "A100", "memory": 40960]]]],
            ]]
            let reply = try await platform.post("/api/createCluster", json: Fixtures.envelope(.object(cluster)))
            XCTAssertEqual(reply.status, 200, reply.body.jsonString())
            for node in ["n1", "n2"] {
                let pushed = try await platform.post("/api/nodeMetrics", json: Fixtures.nodeMetrics(cluster: id, node: node, gpus: [(5, free / 4, 40960), (5, free / 4, 40960)]))
                XCTAssertEqual(pushed.status, 200, pushed.body.jsonString())
            }
        }
        let selector = try String(contentsOf: PolicyArchive.example("cluster_allocator_most_free_gpu"), encoding: .utf8)
        try await register("policy.clusterAllocator.most-free-gpu", kind: "clusterAllocator", source: selector, parameters: ["max_clusters": 3])
        try await register("policy.resourceAllocator.pack", kind: "resourceAllocator", source: PolicySources.packer)
        let created = try await createBlock("placed", min: 2, max: 2, policies: [
            "clusterAllocator": ["policyRuleURI": "policy.clusterAllocator.most-free-gpu:v1", "parameters": ["label": "blue"]],
            "resourceAllocator": ["policyRuleURI": "policy.resourceAllocator.pack:v1", "parameters": ["gpus": 1]],
        ])
        XCTAssertEqual(created.status, 200, created.body.jsonString())
        let block = try await platform.waitForBlock("placed", timeout: 60) { $0["placement"]?["clusterId"]?.stringValue != nil }
        XCTAssertEqual(block["placement"]?["clusterId"]?.stringValue, "blue-big", block.jsonString())
        let nodes = (block["placement"]?["instances"]?.arrayValue ?? []).compactMap { $0["nodeId"]?.stringValue }
        XCTAssertEqual(nodes, ["n1", "n1"], "packed on the lowest node id: \(block.jsonString())")
        let gpus = (block["placement"]?["instances"]?.arrayValue ?? []).compactMap { $0["gpus"]?.arrayValue?.first?.stringValue }
        XCTAssertEqual(Set(gpus), ["0", "1"], "one GPU each, never the same: \(block.jsonString())")
        let decided = events(block, "PolicyDecided")
        XCTAssertTrue(decided.contains { $0.contains("clusterAllocator policy policy.clusterAllocator.most-free-gpu:v1 selected blue-big, blue-small") }, "\(decided)")
        XCTAssertTrue(decided.contains { $0.contains("post_dry_run chose blue-big") }, "\(decided)")
        XCTAssertTrue(decided.contains { $0.contains("resourceAllocator policy policy.resourceAllocator.pack:v1 (allocation) chose on cluster blue-big: n1 GPUs 0; n1 GPUs 1") }, "\(decided)")
    }

    /// An autoscaler that follows a metric (the cluster's GPU utilisation) scales up within maxInstances.
    func testAutoscalerFollowsAMetric() async throws {
        try await register("policy.autoscaler.gpu-follower", kind: "autoscaler", source: PolicySources.gpuFollower)
        let uri = "policy.autoscaler.gpu-follower:v1"
        // A simulated cluster whose node reports its GPUs' utilisation (the metric the policy follows).
        var cluster = Fixtures.gpuCluster.objectValue ?? [:]
        cluster["id"] = "sim"
        let added = try await platform.post("/api/createCluster", json: Fixtures.envelope(.object(cluster)))
        XCTAssertEqual(added.status, 200, added.body.jsonString())
        let idle = try await platform.post("/api/nodeMetrics", json: Fixtures.nodeMetrics(cluster: "sim", node: "node-a", gpus: [(10, 30000, 40960), (10, 30000, 40960)]))
        XCTAssertEqual(idle.status, 200, idle.body.jsonString())
        let created = try await createBlock("scaled", min: 1, max: 3, policies: [
            "clusterAllocator": ["policyRuleURI": "policy.clusterAllocator.pin:v1", "parameters": ["filter": ["clusterQuery": ["variable": "id", "operator": "==", "value": "sim"]]]],
            "autoscaler": ["policyRuleURI": .string(uri), "settings": ["interval_seconds": 1, "scale_up_cooldown": 0]],
        ])
        XCTAssertEqual(created.status, 200, created.body.jsonString())
        _ = try await platform.waitForPhase("scaled", "Ready", timeout: 60)
        // The node's GPUs get busy: the policy asks for one instance per 30 % of utilisation.
        let pushed = try await platform.post("/api/nodeMetrics", json: Fixtures.nodeMetrics(cluster: "sim", node: "node-a", gpus: [(95, 1000, 40960), (95, 1000, 40960)]))
        XCTAssertEqual(pushed.status, 200, pushed.body.jsonString())
        let block = try await platform.waitForBlock("scaled", timeout: 60) { ($0["placement"]?["instances"]?.arrayValue?.count ?? 0) == 3 }
        let decided = events(block, "PolicyDecided")
        XCTAssertTrue(decided.contains { $0.contains("autoscaler policy \(uri) asked for 4 instance(s) (bounded by minInstances 1 and maxInstances 3 to 3)") }, "\(decided)")
        XCTAssertFalse(events(block, "ScaledUp").isEmpty)
    }

    /// A stabilityChecker sees each health check and may name an instance to replace; the runtime replaces it.
    func testStabilityCheckerReplacesWhatItNames() async throws {
        try await register("policy.stabilityChecker.replace-once", kind: "stabilityChecker", source: PolicySources.replaceOnce)
        let uri = "policy.stabilityChecker.replace-once:v1"
        let created = try await createBlock("checked", min: 2, max: 2, policies: ["stabilityChecker": ["policyRuleURI": .string(uri), "settings": ["check_interval_sec": 0.5]]])
        XCTAssertEqual(created.status, 200, created.body.jsonString())
        let block = try await waitForEvent("checked", "PolicyDecided", containing: "stabilityChecker policy \(uri) replaced inst-", timeout: 60)
        let replaced = events(block, "InstanceReplaced") + events(block, "InstanceLost") + events(block, "InstanceExited")
        XCTAssertFalse(replaced.isEmpty, "\(block["events"]?.jsonString() ?? "")")
        _ = try await platform.waitForBlock("checked", timeout: 60) { ($0["instances"]?.arrayValue ?? []).filter { $0["healthy"]?.boolValue == true }.count == 2 }
    }

    /// vDAG policy points: a node's assignment among the blocks its filter matched, its preprocessing, and the
    /// controller's quota checker.
    func testVDAGAssignmentPreprocessingAndQuotaPolicies() async throws {
        try await register("policy.assignment.pick-last", kind: "assignment", source: PolicySources.pickLast)
        try await register("policy.preprocessing.shout", kind: "preprocessing", source: PolicySources.shout)
        try await register("policy.quotaChecker.deny-bob", kind: "quotaChecker", source: PolicySources.denyBob)
        try await register("policy.postprocessing.stamp", kind: "postprocessing", source: PolicySources.stamp)
        for id in ["va", "vb"] {
            let block = try await createBlock(id, policies: [:])
            XCTAssertEqual(block.status, 200, block.body.jsonString())
            _ = try await platform.waitForPhase(id, "Ready", timeout: 60)
        }
        let created = try await platform.post("/api/createvDAG", json: Fixtures.envelope([
            "vdagName": "custom", "vdagVersion": ["version": "0.0.1", "release-tag": "stable"], "discoveryTags": [],
            "controller": ["initSettings": ["maxOutputWaitTimeSeconds": 10],
                           "quotaChecker": ["enabled": true, "quotaCheckerPolicyRule": ["policyRuleURI": "policy.quotaChecker.deny-bob:v1", "parameters": ["max_requests": 100]]]],
            "nodes": [["spec": ["values": [
                "nodeLabel": "only", "nodeType": "block",
                "assignmentPolicyRule": ["policyRuleURI": "policy.assignment.pick-last:v1",
                                         "parameters": ["filter": ["variable": "block.componentURI", "operator": "==", "value": "model.chat:1.0.0-stable"]]],
                "preprocessingPolicyRule": ["policyRuleURI": "policy.preprocessing.shout:v1"],
                "postprocessingPolicyRule": ["policyRuleURI": "policy.postprocessing.stamp:v1", "parameters": ["stamp": "checked"]],
            ]], "IOMap": []]],
            "graph": ["connections": []],
        ]))
        XCTAssertEqual(created.status, 200, created.body.jsonString())
        XCTAssertEqual(created.body["result"]?["assignment"]?["only"]?.stringValue, "vb", "the policy picks the last match; the built-in, the first: \(created.body.jsonString())")
        let started = try await platform.post("/vdag-controller/local", json: [
            "action": "create_controller", "payload": ["vdag_controller_id": "custom-ctl", "vdag_uri": "custom:0.0.1-stable", "config": [:]],
        ])
        XCTAssertEqual(started.status, 200, started.body.jsonString())
        let alice = try await platform.post("/v1/vdags/custom-ctl/infer", json: ["data": ["text": "hi"], "session_id": "alice"])
        XCTAssertEqual(alice.status, 200, alice.body.jsonString())
        XCTAssertEqual(alice.body["data"]?["text"]?.stringValue, "HI!", "preprocessed by the policy, then the block: \(alice.body.jsonString())")
        XCTAssertEqual(alice.body["data"]?["stamp"]?.stringValue, "checked", "and postprocessed: \(alice.body.jsonString())")
        let bob = try await platform.post("/v1/vdags/custom-ctl/infer", json: ["data": ["text": "hi"], "session_id": "bob"])
        XCTAssertNotEqual(bob.status, 200)
        XCTAssertTrue(bob.body.jsonString().contains("quota policy policy.quotaChecker.deny-bob:v1 refused session"), bob.body.jsonString())
    }

    // MARK: Hostile policies

    /// Each misbehaviour is contained: the built-in decides, the block keeps serving, the event says why, and
    /// the platform (and the other blocks) carry on.
    func testHostilePoliciesAreContained() async throws {
        guard sandbox == "bwrap" else { throw XCTSkip("bubblewrap cannot sandbox here: the isolation tests need it") }
        let port = URLComponents(string: platform.url)?.port ?? 0
        let cases: [(name: String, source: String, reason: String)] = [
            ("reads-host-file", PolicySources.hostile("open(\(String(reflecting: directory.appendingPathComponent("aios.db").path)), 'rb').read(16)"), "No such file"),
            // The platform's own port on the host's loopback: the sandbox has a network of its own.
            ("opens-socket", PolicySources.hostile("__import__('socket').create_connection(('127.0.0.1', \(port)), timeout=1)"), "Error: [Errno"),
            ("writes-outside-tmp", PolicySources.hostile("open('/etc/aios-was-here', 'w').write('x')"), "Read-only file system"),
            ("forks-in-a-loop", PolicySources.forkLoop, "Resource temporarily unavailable"),
            ("allocates-4gb", PolicySources.hostile("bytearray(4 * 1024 ** 3)"), "MemoryError"),
            ("loops-forever", PolicySources.hostile("exec('while True: pass')"), "deadline"),
            ("returns-garbage", "class AIOSv1PolicyRule:\n    def __init__(self, *a): pass\n    def eval(self, p, i, c): return {'instance_id': ['not', 'an', 'id']}\n", "instance_id"),
            ("returns-unknown", "class AIOSv1PolicyRule:\n    def __init__(self, *a): pass\n    def eval(self, p, i, c): return {'instance_id': 'inst-nobody'}\n", "is not one of the ready instances"),
        ]
        // A healthy block beside them, with its own (good) custom balancer.
        try await register("policy.loadBalancer.good", kind: "loadBalancer", source: PolicySources.firstInstance)
        let bystanderCreated = try await createBlock("bystander", policies: ["loadBalancer": ["policyRuleURI": "policy.loadBalancer.good:v1"]])
        XCTAssertEqual(bystanderCreated.status, 200, bystanderCreated.body.jsonString())
        for hostile in cases {
            try await register("policy.loadBalancer.\(hostile.name)", kind: "loadBalancer", source: hostile.source)
            let reply = try await createBlock(hostile.name, policies: ["loadBalancer": ["policyRuleURI": .string("policy.loadBalancer.\(hostile.name):v1")]])
            XCTAssertEqual(reply.status, 200, reply.body.jsonString())
        }
        for hostile in cases { _ = try await platform.waitForPhase(hostile.name, "Ready", timeout: 90) }
        _ = try await platform.waitForPhase("bystander", "Ready", timeout: 60)
        for hostile in cases {
            var fallback: [String] = []
            let deadline = Date().addingTimeInterval(40)
            while Date() < deadline {
                let reply = try await platform.post("/v1/infer", json: ["block_id": .string(hostile.name), "data": ["text": "hi"]])
                XCTAssertEqual(reply.status, 200, "\(hostile.name): the built-in must serve: \(reply.body.jsonString())")
                let block = try await platform.get("/api/blocks/\(hostile.name)").body
                fallback = events(block, "PolicyFallback")
                if fallback.contains(where: { $0.contains(hostile.reason) }) { break }
                try await Task.sleep(for: .milliseconds(300))
            }
            XCTAssertTrue(fallback.contains { $0.contains(hostile.reason) && $0.contains("built-in round robin decided") },
                          "\(hostile.name): \(fallback)")
        }
        // Nothing escaped: no file outside the sandbox, the platform and the bystander serve.
        XCTAssertFalse(FileManager.default.fileExists(atPath: "/etc/aios-was-here"))
        let bystander = try await platform.post("/v1/infer", json: ["block_id": "bystander", "data": ["text": "still here"]])
        XCTAssertEqual(bystander.status, 200, bystander.body.jsonString())
        XCTAssertEqual(bystander.body["data"]?["text"]?.stringValue, "STILL HERE")
        let good = try await policy("policy.loadBalancer.good:v1")
        XCTAssertEqual(good["status"]?.stringValue, "Ready", good.jsonString())
        // A policy that keeps failing (each call killed at its deadline) is Degraded, with its last error.
        var looping: JSONValue = .null
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            _ = try await platform.post("/v1/infer", json: ["block_id": "loops-forever", "data": ["text": "again"]])
            looping = try await policy("policy.loadBalancer.loops-forever:v1")
            if looping["status"]?.stringValue == "Degraded" { break }
            try await Task.sleep(for: .milliseconds(200))
        }
        XCTAssertEqual(looping["status"]?.stringValue, "Degraded", looping.jsonString())
        XCTAssertTrue(looping["lastError"]?.stringValue?.contains("deadline") == true, looping.jsonString())
        let health = try await platform.get("/healthz")
        XCTAssertEqual(health.status, 200)
    }
}

/// Policy sources the tests register.
enum PolicySources {
    /// loadBalancer: always the first ready instance.
    static let firstInstance = """
        class AIOSv1PolicyRule:
            def __init__(self, rule_id, settings, parameters):
                self.parameters = parameters
            def eval(self, parameters, input_data, context):
                return {"instance_id": sorted(input_data["instances"])[0]}
        """

    /// A loadBalancer whose eval runs `statement` first (it is expected to fail), then answers.
    static func hostile(_ statement: String) -> String {
        """
        class AIOSv1PolicyRule:
            def __init__(self, rule_id, settings, parameters):
                pass
            def eval(self, parameters, input_data, context):
                \(statement)
                return {"instance_id": input_data["instances"][0]}
        """
    }

    static let forkLoop = """
        import os
        class AIOSv1PolicyRule:
            def __init__(self, rule_id, settings, parameters):
                pass
            def eval(self, parameters, input_data, context):
                children = []
                while True:
                    pid = os.fork()
                    if pid == 0:
                        import time
                        time.sleep(30)
                        os._exit(0)
                    children.append(pid)
        """

    /// resourceAllocator: the node with the lowest id, its first GPUs not taken by this block's earlier instances.
    static let packer = """
        class AIOSv1PolicyRule:
            def __init__(self, rule_id, settings, parameters):
                self.parameters = parameters
            def eval(self, parameters, input_data, context):
                payload = input_data["payload"]
                nodes = sorted(payload["healthy_nodes"], key=lambda n: n["id"])
                want = int(parameters.get("gpus", 1))
                for node in nodes:
                    free = [g["gpu_id"] for g in node["gpus"] if g["qualifies"]]
                    if len(free) >= want:
                        return {"node_id": node["id"], "gpus": free[:want]}
                raise ValueError("no node has room")
        """

    /// stabilityChecker: asks once for the replacement of the first instance it sees healthy.
    static let replaceOnce = """
        class AIOSv1PolicyRule:
            def __init__(self, rule_id, settings, parameters):
                self.done = False
            def eval(self, parameters, input_data, context):
                healthy = sorted(i for i, ok in input_data["health_check_data"].items() if ok)
                if self.done or len(healthy) < 2:
                    return {}
                self.done = True
                return {"replace": healthy[:1]}
        """

    /// assignment: the last of the matching blocks (the built-in takes the least loaded, ties by id: the first).
    static let pickLast = """
        class AIOSv1PolicyRule:
            def __init__(self, rule_id, settings, parameters):
                pass
            def eval(self, parameters, input_data, context):
                return {"block_id": sorted(c["block_id"] for c in input_data["candidates"])[-1]}
        """

    /// preprocessing: appends "!" to the packet's text.
    static let shout = """
        class AIOSv1PolicyRule:
            def __init__(self, rule_id, settings, parameters):
                pass
            def eval(self, parameters, input_data, context):
                packet = input_data["packet"]
                data = dict(packet["data"])
                data["text"] = data["text"] + "!"
                return {"packet": {"data": data}}
        """

    /// postprocessing: adds the `stamp` parameter to the block's output.
    static let stamp = """
        class AIOSv1PolicyRule:
            def __init__(self, rule_id, settings, parameters):
                pass
            def eval(self, parameters, input_data, context):
                data = dict(input_data["packet"]["data"])
                data["stamp"] = parameters["stamp"]
                return {"packet": {"data": data}}
        """

    /// quotaChecker: everyone but bob.
    static let denyBob = """
        class AIOSv1PolicyRule:
            def __init__(self, rule_id, settings, parameters):
                pass
            def eval(self, parameters, input_data, context):
                return {"allowed": input_data["session_id"] != "bob"}
        """

    /// autoscaler: one instance per 30 % of the cluster's mean GPU utilisation.
    static let gpuFollower = """
        import math
        class AIOSv1PolicyRule:
            def __init__(self, rule_id, settings, parameters):
                pass
            def eval(self, parameters, input_data, context):
                gpu = ((input_data.get("cluster_data") or {}).get("cluster") or {}).get("gpu") or {}
                utilisation = float(gpu.get("avgCudaUtilization", 0))
                current = len(input_data["current_instances"])
                wanted = max(1, math.ceil(utilisation / 30))
                if wanted > current:
                    return {"skip": False, "operation": "upscale", "instances_count": wanted - current}
                return {"skip": True}
        """
}

/// Policy archives for the tests, made with `tar`.
enum PolicyArchive {
    static func tarGz(_ files: [String: String]) throws -> Data {
        let root = temporaryDirectory("policy-archive")
        defer { try? FileManager.default.removeItem(at: root) }
        var names: [String] = []
        for (name, text) in files {
            let url = root.appendingPathComponent("tree").appendingPathComponent(name)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(text.utf8).write(to: url)
            names.append(name)
        }
        let output = root.appendingPathComponent("policy.tar.gz")
        let tar = Process()
        tar.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        // Names with `..` go in as written (`-P`), so the platform's check is what refuses them.
        tar.arguments = ["tar", "-czPf", output.path, "-C", root.appendingPathComponent("tree").path] + names.sorted()
        try tar.run()
        tar.waitUntilExit()
        guard tar.terminationStatus == 0 else { throw PlatformError("tar failed with status \(tar.terminationStatus)") }
        return try Data(contentsOf: output)
    }

    /// Whether the package index answers (a policy's requirements are installed from it).
    static let indexReachable: Bool = {
        let run = try? Command.run([Command.python, "-c", "import socket; socket.create_connection(('pypi.org', 443), timeout=3)"], timeout: 10)
        return run?.status == 0
    }()

    static func example(_ name: String) -> URL {
        PlatformProcess.repositoryRoot.appendingPathComponent("python/aios_policy/examples/\(name)/code/function.py")
    }

    /// Whether bubblewrap can build a sandbox on this machine (else the tests run with rlimits only, and say so).
    static let bubblewrapWorks: Bool = {
        guard let venv = PlatformProcess.pythonVirtualEnv else { return false }
        let probe = Process()
        probe.executableURL = URL(fileURLWithPath: "\(venv)/bin/python")
        probe.arguments = ["-m", "aios_policy.launch", "--probe"]
        let out = Pipe()
        probe.standardOutput = out
        probe.standardError = FileHandle.nullDevice
        guard (try? probe.run()) != nil else { return false }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        probe.waitUntilExit()
        let works = JSONValue.decodeJSON(data)?["usable"]?.boolValue == true
        if !works { print("bubblewrap cannot sandbox here: the custom policy tests run with --policy-sandbox rlimits-only") }
        return works
    }()
}
