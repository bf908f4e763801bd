import AIOSModel
import Foundation
import XCTest

/// Every bad input gets a 4xx naming the bad field by its path in the submitted document, and changes nothing.
final class BadInputTests: XCTestCase {
    struct Case {
        var name: String
        var action: String
        var body: String
        var contentType = "application/json"
        var status: Int
        /// The path one of the reported fields must have; `nil` when the error is not about a field.
        var path: String?
    }

    static func json(_ value: JSONValue) -> String { value.jsonString() }

    /// The block with one more policy rule in its `policyRulesSpec`.
    static func withRule(_ block: JSONValue, _ rule: JSONValue) -> JSONValue {
        Fixtures.withSpecValues(block) { values in
            values["policyRulesSpec"] = .array((values["policyRulesSpec"]?.arrayValue ?? []) + [["values": rule]])
        }
    }

    static let cases: [Case] = [
        Case(name: "not JSON or YAML", action: "addComponent", body: "{\"componentId\": [", status: 400, path: "$"),
        Case(name: "broken YAML", action: "addComponent", body: "componentId: {name: [x\n", contentType: "application/yaml", status: 400, path: "$"),
        Case(name: "empty body", action: "createBlock", body: "", status: 400, path: "$"),
        Case(name: "array instead of object", action: "addComponent", body: "[1, 2]", status: 400, path: "$"),
        Case(name: "unknown template", action: "addComponent",
             body: json(["header": ["templateUri": "Other/V2"], "body": ["spec": ["values": Fixtures.chatComponent]]]),
             status: 400, path: "header.templateUri"),
        Case(name: "envelope without values", action: "createCluster",
             body: json(["header": ["templateUri": "Parser/V1"], "body": ["spec": [:]]]), status: 400, path: "body.spec.values"),
        Case(name: "component without type", action: "addComponent",
             body: json(["componentId": ["name": "x", "version": "1", "releaseTag": "a"]]), status: 400, path: "componentType"),
        Case(name: "numeric version", action: "addComponent",
             body: json(Fixtures.envelope(["componentId": ["name": "x", "version": 1, "releaseTag": "a"], "componentType": "model"])),
             status: 400, path: "body.spec.values.componentId.version"),
        Case(name: "unknown component mode", action: "addComponent",
             body: json(["componentId": ["name": "x", "version": "1", "releaseTag": "a"], "componentType": "model",
                         "containerRegistryInfo": ["containerImage": "i", "componentMode": "sidecar"]]),
             status: 400, path: "containerRegistryInfo.componentMode"),
        Case(name: "client URI disagrees", action: "addComponent",
             body: json(["componentId": ["name": "x", "version": "1", "releaseTag": "a"], "componentType": "model", "componentURI": "model.y:1-a"]),
             status: 400, path: "componentURI"),
        Case(name: "protocol with unknown type", action: "addComponent",
             body: json(["componentId": ["name": "x", "version": "1", "releaseTag": "a"], "componentType": "model",
                         "componentInitParametersProtocol": ["t": ["type": "float"]]]),
             status: 400, path: "componentInitParametersProtocol.t.type"),
        Case(name: "release tag with dash", action: "addComponent",
             body: json(["componentId": ["name": "x", "version": "1", "releaseTag": "a-b"], "componentType": "model"]),
             status: 400, path: "componentId.releaseTag"),
        Case(name: "duplicate component", action: "addComponent", body: json(Fixtures.chatComponent), status: 409, path: "componentId"),
        Case(name: "cluster without id", action: "createCluster", body: json(["regionId": "r", "nodes": ["nodeData": []]]), status: 400, path: "id"),
        Case(name: "cluster GPU total disagrees with nodes", action: "createCluster",
             body: json(["id": "c2", "gpus": ["count": 8], "nodes": ["nodeData": [["id": "n", "gpus": ["count": 2]]]]]),
             status: 400, path: "gpus.count"),
        Case(name: "node memory not a number", action: "createCluster",
             body: json(["id": "c3", "nodes": ["nodeData": [["id": "n", "memory": "lots"]]]]), status: 400, path: "nodes.nodeData[0].memory"),
        Case(name: "duplicate cluster", action: "createCluster", body: json(["id": "local", "regionId": "r"]), status: 409, path: "id"),
        Case(name: "cluster naming a driver this platform lacks", action: "createCluster",
             body: json(["id": "c5", "driver": "nosuch"]), status: 400, path: "driver"),
        Case(name: "negative queue limit in the load balancer's settings", action: "createBlock",
             body: json(withRule(Fixtures.block(id: "b5"), ["name": "loadBalancer", "policyRuleURI": "policy.loadBalancer.roundrobin:v0.0.1",
                                                             "settings": ["max_queued_requests": -5]])),
             status: 400, path: "body.spec.values.policyRulesSpec[1].values.settings.max_queued_requests"),
        Case(name: "node for unknown cluster", action: "addNode", body: json(["clusterId": "nope", "nodeData": ["id": "n"]]), status: 404, path: "clusterId"),
        Case(name: "duplicate node", action: "addNode", body: json(["clusterId": "local", "nodeData": ["id": "local"]]), status: 409, path: "nodeData.id"),
        Case(name: "block of unknown component", action: "createBlock",
             body: json(["blockComponentURI": "model.none:1-a", "minInstances": 1, "maxInstances": 1]), status: 404, path: "blockComponentURI"),
        Case(name: "malformed component URI", action: "createBlock",
             body: json(["blockComponentURI": "chat", "minInstances": 1, "maxInstances": 1]), status: 400, path: "blockComponentURI"),
        Case(name: "min above max", action: "createBlock", body: json(Fixtures.block(id: "b2", min: 3, max: 2)),
             status: 400, path: "body.spec.values.maxInstances"),
        Case(name: "missing minInstances", action: "createBlock",
             body: json(["blockComponentURI": "model.chat:1.0.0-stable", "maxInstances": 1]), status: 400, path: "minInstances"),
        Case(name: "block id longer than a DNS label", action: "createBlock",
             body: json(Fixtures.block(id: String(repeating: "a", count: 64))), status: 400, path: "body.spec.values.blockId"),
        Case(name: "parameter outside the component's protocol", action: "createBlock",
             body: json(Fixtures.block(id: "b3", parameters: ["temperature": 7])), status: 400, path: "body.spec.values.parameters.temperature"),
        Case(name: "undeclared parameter", action: "createBlock",
             body: json(Fixtures.block(id: "b4", parameters: ["tempreature": 1])), status: 400, path: "body.spec.values.parameters.tempreature"),
        Case(name: "policy rules not a list", action: "createBlock",
             body: json(["blockComponentURI": "model.chat:1.0.0-stable", "minInstances": 1, "maxInstances": 1, "policyRulesSpec": ["name": "x"]]),
             status: 400, path: "policyRulesSpec"),
        Case(name: "duplicate block", action: "createBlock", body: json(Fixtures.block(id: "existing")), status: 409, path: "body.spec.values.blockId"),
        Case(name: "remove unknown block", action: "removeBlock", body: json(["blockId": "ghost"]), status: 404, path: "blockId"),
        Case(name: "unknown action", action: "launchRocket", body: "{}", status: 404, path: nil),
    ]

    func testEveryBadInputNamesItsFieldAndStoresNothing() async throws {
        let directory = temporaryDirectory("bad-input")
        defer { try? FileManager.default.removeItem(at: directory) }
        let platform = try PlatformProcess(dataDirectory: directory)
        let component = try await platform.post("/api/addComponent", json: Fixtures.chatComponent)
        XCTAssertEqual(component.status, 200)
        let block = try await platform.post("/api/createBlock", json: Fixtures.block(id: "existing"))
        XCTAssertEqual(block.status, 200)
        // The block has no GPU cluster to go to and fails placement; once it has, nothing moves any more.
        try await platform.waitForBlock("existing") { $0["phase"]?.stringValue == "Failed" || $0["phase"]?.stringValue == "Ready" }

        let before = try await snapshot(platform)
        XCTAssertGreaterThanOrEqual(Self.cases.count, 15)
        for testCase in Self.cases {
            let reply = try await platform.post("/api/\(testCase.action)", testCase.body, contentType: testCase.contentType)
            XCTAssertEqual(reply.status, testCase.status, "\(testCase.name): \(reply.body.jsonString())")
            XCTAssertEqual(reply.body["success"], false, testCase.name)
            XCTAssertNotNil(reply.body["error"]?["code"]?.stringValue, testCase.name)
            XCTAssertFalse(reply.body["error"]?["message"]?.stringValue?.isEmpty ?? true, testCase.name)
            let paths = reply.body["error"]?["fields"]?.arrayValue?.compactMap { $0["path"]?.stringValue } ?? []
            if let path = testCase.path {
                XCTAssertTrue(paths.contains(path), "\(testCase.name): expected field \(path), got \(paths)")
            }
            let after = try await snapshot(platform)
            XCTAssertEqual(after, before, "\(testCase.name) changed the registry")
        }
        let health = try await platform.get("/healthz")
        XCTAssertEqual(health.status, 200, "the server must survive every bad input")
    }

    private func snapshot(_ platform: PlatformProcess) async throws -> [String: JSONValue] {
        var state: [String: JSONValue] = [:]
        for path in ["/api/components", "/api/clusters", "/api/blocks", "/api/tasks?limit=1000"] {
            state[path] = try await platform.get(path).body
        }
        return state
    }
}
