import AIOSModel
@testable import AIOSPolicy
import XCTest

final class PolicyDefinitionTests: XCTestCase {
    func testURIFollowsAIOSFormulaAndKindComesFromTypeOrName() throws {
        let tagged = try PolicyDefinition(values: ["name": "pack", "version": "1.0", "release_tag": "stable", "type": "resourceAllocator"])
        XCTAssertEqual(tagged.uri, "pack:1.0-stable")
        XCTAssertEqual(tagged.kind, .resourceAllocator)
        let named = try PolicyDefinition(values: ["name": "policy.loadBalancer.sticky", "version": "v2", "policy_parameters": ["header": "x-user"]])
        XCTAssertEqual(named.uri, "policy.loadBalancer.sticky:v2")
        XCTAssertEqual(named.kind, .loadBalancer)
        XCTAssertEqual(named.parameters, ["header": "x-user"])
    }

    func testErrorsNameTheField() {
        func fields(_ values: [String: JSONValue]) -> [String] {
            do {
                _ = try PolicyDefinition(values: values, at: FieldPath(dotted: "body.spec.values"))
                return []
            } catch {
                return error.fields.map(\.path)
            }
        }
        XCTAssertEqual(fields(["version": "1", "type": "autoscaler"]), ["body.spec.values.name"])
        XCTAssertEqual(fields(["name": "x", "version": "1"]), ["body.spec.values.type"])
        XCTAssertEqual(fields(["name": "x", "version": "1", "type": "teleporter"]), ["body.spec.values.type"])
        XCTAssertEqual(fields(["name": "policy.autoscaler.x", "version": "1", "type": "loadBalancer"]), ["body.spec.values.type"])
        XCTAssertEqual(fields(["name": "../etc", "version": "1", "type": "autoscaler"]), ["body.spec.values.name"])
        XCTAssertEqual(fields(["name": "x", "version": "1", "type": "autoscaler", "policy_rule_uri": "y:2"]), ["body.spec.values.policy_rule_uri"])
        XCTAssertEqual(fields(["name": "x", "version": "1", "type": "autoscaler", "surprise": 1]), ["body.spec.values.surprise"])
        XCTAssertEqual(fields(["name": "x", "version": "1", "type": "autoscaler", "policy_settings": [1]]), ["body.spec.values.policy_settings"])
    }

    func testStoredDocumentRoundTrips() throws {
        let definition = try PolicyDefinition(values: ["name": "p", "version": "1", "type": "autoscaler", "description": "d", "tags": "a,b",
                                                       "policy_settings": ["s": 1], "policy_parameters_schema": ["type": "object"]])
        let archive = PolicyArchive(digest: "ab", format: "tar", compressedBytes: 1, uncompressedBytes: 2, files: 1, hasRequirements: false, warnings: [])
        let document = definition.document(archive: archive)
        XCTAssertEqual(PolicyDefinition(stored: document), definition)
        XCTAssertEqual(document["code"].flatMap(PolicyArchive.init(json:)), archive)
        XCTAssertEqual(document["policy_rule_uri"], "p:1")
    }
}

final class PolicyOutputsTests: XCTestCase {
    func testLoadBalancerMustNameAReadyInstance() {
        XCTAssertEqual(try PolicyOutputs.instance(["instance_id": "a"], offered: ["a", "b"]).get(), "a")
        XCTAssertEqual(failure(PolicyOutputs.instance(["instance_id": "z"], offered: ["a"]))?.field, "instance_id")
        XCTAssertEqual(failure(PolicyOutputs.instance(["instance_id": 3], offered: ["a"]))?.field, "instance_id")
        XCTAssertEqual(failure(PolicyOutputs.instance("a", offered: ["a"]))?.field, "result")
    }

    func testClusterSelectionAndPostDryRun() {
        XCTAssertEqual(try PolicyOutputs.clusters(["clusters": ["b", ["id": "a"], "b"]], offered: ["a", "b"]).get(), ["b", "a"])
        XCTAssertEqual(failure(PolicyOutputs.clusters(["clusters": ["c"]], offered: ["a"]))?.field, "clusters[0]")
        XCTAssertEqual(failure(PolicyOutputs.clusters(["pick": "a"], offered: ["a"]))?.field, "clusters")
        XCTAssertEqual(try PolicyOutputs.chosenCluster(["id": "a", "score_data": [:]], offered: ["a"]).get(), "a")
        XCTAssertEqual(failure(PolicyOutputs.chosenCluster(["id": "q"], offered: ["a"]))?.field, "id")
    }

    func testAllocationAndScaling() throws {
        let allocation = try PolicyOutputs.allocation(["node_id": "n", "gpus": [0, 2]]).get()
        XCTAssertEqual(allocation.node, "n")
        XCTAssertEqual(allocation.gpus, ["0", "2"])
        XCTAssertEqual(failure(PolicyOutputs.allocation(["node_id": "n", "gpus": [true]]))?.field, "gpus[0]")
        XCTAssertEqual(failure(PolicyOutputs.allocation(["gpus": [0]]))?.field, "node_id")
        XCTAssertEqual(try PolicyOutputs.scaling(["skip": true], current: ["a"]).get(), .skip)
        XCTAssertEqual(try PolicyOutputs.scaling(["operation": "upscale", "instances_count": 2], current: ["a"]).get(), .up(2))
        XCTAssertEqual(try PolicyOutputs.scaling(["operation": "downscale", "instances_list": ["a"]], current: ["a", "b"]).get(), .down(["a"]))
        XCTAssertEqual(failure(PolicyOutputs.scaling(["operation": "downscale", "instances_list": ["x"]], current: ["a"]))?.field, "instances_list[0]")
        XCTAssertEqual(failure(PolicyOutputs.scaling(["operation": "upscale", "instances_count": -1], current: ["a"]))?.field, "instances_count")
        XCTAssertEqual(failure(PolicyOutputs.scaling(["operation": "upscale", "instances_count": 9.2e18], current: ["a"]))?.field, "instances_count",
                       "a count that would overflow the runtime's arithmetic is a wrong answer")
        XCTAssertEqual(failure(PolicyOutputs.scaling(["operation": "sideways"], current: ["a"]))?.field, "operation")
    }

    func testVDAGKinds() throws {
        XCTAssertEqual(try PolicyOutputs.allowed(["allowed": false]).get(), false)
        XCTAssertEqual(failure(PolicyOutputs.allowed(["allowed": "yes"]))?.field, "allowed")
        XCTAssertEqual(try PolicyOutputs.packet(["packet": ["data": "x"]]).get(), ["data": "x"])
        XCTAssertEqual(failure(PolicyOutputs.packet(["data": "x"]))?.field, "packet")
        XCTAssertEqual(try PolicyOutputs.block(["block_id": "b"], offered: ["b"]).get(), "b")
        XCTAssertEqual(failure(PolicyOutputs.block(["block_id": "c"], offered: ["b"]))?.field, "block_id")
    }

    func failure<T>(_ result: Result<T, PolicyFailure>) -> PolicyFailure? {
        if case .failure(let failure) = result {
            XCTAssertEqual(failure.reason, .output)
            return failure
        }
        return nil
    }
}

final class EventThrottleTests: XCTestCase {
    func testOneEventPerWindowCountingTheRest() {
        var throttle = EventThrottle()
        let start = Date()
        XCTAssertEqual(throttle.admit("k", now: start), 0)
        XCTAssertNil(throttle.admit("k", now: start.addingTimeInterval(1)))
        XCTAssertNil(throttle.admit("k", now: start.addingTimeInterval(2)))
        XCTAssertEqual(throttle.admit("other", now: start.addingTimeInterval(2)), 0, "keys are apart")
        XCTAssertEqual(throttle.admit("k", now: start.addingTimeInterval(EventThrottle.window + 1)), 2)
    }
}

final class RequirementsTests: XCTestCase {
    func problems(_ text: String) throws -> [String] {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("aios-req-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: root) }
        try FileManager.default.createDirectory(at: root.appendingPathComponent("code"), withIntermediateDirectories: true)
        try Data(text.utf8).write(to: root.appendingPathComponent("code/requirements.txt"))
        return PolicyArchives.requirementProblems(root)
    }

    func testOnlyNamedPackagesFromTheIndex() throws {
        XCTAssertEqual(try problems("# pinned\nnumpy==1.26.4\nrequests[socks] >=2.31, <3 ; python_version >= '3.10'\n\nsix\n"), [])
        for bad in ["-e .", "--index-url http://evil/simple six", "/etc/passwd", "./pkg", "git+https://x/y.git", "https://x/y.whl",
                    "six @ file:///etc", "numpy==1.0 && rm -rf /"] {
            XCTAssertEqual(try problems(bad).count, 1, bad)
        }
    }
}
