import AIOSModel
import XCTest

final class SpecValidationTests: XCTestCase {
    private let component: JSONValue = [
        "componentId": ["name": "chat", "version": "1.0.0", "releaseTag": "stable"],
        "componentType": "model",
        "componentParameters": ["temperature": 0.7],
        "componentInitParametersProtocol": [
            "temperature": ["type": "number", "min": 0, "max": 2],
            "mode": ["type": "string", "choices": ["fast", "slow"]],
        ],
        "componentInitSettingsProtocol": ["timeout_ms": ["type": "integer", "min": 1, "required": true]],
        "componentInitSettings": ["timeout_ms": 1000],
        "policies": ["loadBalancer": ["policyRuleURI": "policy.loadBalancer.roundrobin:v0.0.1"]],
        "containerRegistryInfo": ["containerImage": "x", "componentMode": "third-party", "initContainer": ["containerImage": "init:1"]],
    ]

    private func paths(_ body: () throws -> Void) -> [String] {
        do {
            try body()
            return []
        } catch let error as APIError {
            return error.fields.map(\.path).sorted()
        } catch {
            return ["unexpected \(error)"]
        }
    }

    func testComponentDerivesURIAndNormalisesAIOSSpellings() throws {
        let spec = try ComponentSpec(envelope: SpecEnvelope(document: component))
        XCTAssertEqual(spec.uri.description, "model.chat:1.0.0-stable")
        XCTAssertEqual(spec.document["componentURI"], "model.chat:1.0.0-stable")
        XCTAssertEqual(spec.document["containerRegistryInfo"]?["componentMode"], "third_party")
        XCTAssertEqual(spec.document["containerRegistryInfo"]?["initContainer"]?["image"], "init:1")
    }

    func testComponentErrorsNameEveryBadField() {
        let bad: JSONValue = [
            "componentId": ["name": "chat", "version": 1],
            "componentParameters": "x",
            "componentInitParametersProtocol": ["t": ["type": "float"]],
        ]
        XCTAssertEqual(paths { _ = try ComponentSpec(envelope: SpecEnvelope(document: bad)) }, [
            "componentId.releaseTag", "componentId.version", "componentInitParametersProtocol.t.type",
            "componentParameters", "componentType",
        ])
    }

    func testComponentDefaultsMustSatisfyTheirProtocol() {
        var bad = component.objectValue!
        bad["componentParameters"] = ["temperature": 9]
        XCTAssertEqual(paths { _ = try ComponentSpec(envelope: SpecEnvelope(document: .object(bad))) }, ["componentParameters.temperature"])
    }

    func testBlockResolvesDefaultsAndMergesPolicies() throws {
        let component = try ComponentSpec(envelope: SpecEnvelope(document: component))
        let block = try BlockSpec(envelope: SpecEnvelope(document: [
            "blockComponentURI": "model.chat:1.0.0-stable", "minInstances": 1, "maxInstances": 3,
            "parameters": ["mode": "fast"],
            "policyRulesSpec": [["values": ["name": "autoscaler", "policyRuleURI": "policy.autoscaler.cpu:v1", "parameters": ["x": 1]]]],
        ]))
        XCTAssertTrue(block.blockId.hasPrefix("blk-"))
        let resolved = try block.resolve(with: component)
        XCTAssertEqual(resolved.parameters, ["temperature": 0.7, "mode": "fast"])
        XCTAssertEqual(resolved.initSettings, ["timeout_ms": 1000])
        XCTAssertEqual(resolved.policies["autoscaler"], ["policyRuleURI": "policy.autoscaler.cpu:v1", "parameters": ["x": 1]])
        XCTAssertNotNil(resolved.policies["loadBalancer"])
    }

    func testBlockParametersAreCheckedAgainstTheComponentProtocol() throws {
        let component = try ComponentSpec(envelope: SpecEnvelope(document: component))
        let block = try BlockSpec(envelope: SpecEnvelope(document: [
            "head": ["templateUri": "Parser/V1"],
            "body": ["spec": ["values": [
                "blockComponentURI": "model.chat:1.0.0-stable", "minInstances": 1, "maxInstances": 1,
                "parameters": ["temperature": 5, "mode": "medium", "tempreature": 1],
                "initSettings": ["timeout_ms": 0.5],
            ]]],
        ]))
        XCTAssertEqual(paths { _ = try block.resolve(with: component) }, [
            "body.spec.values.initSettings.timeout_ms",
            "body.spec.values.parameters.mode",
            "body.spec.values.parameters.temperature",
            "body.spec.values.parameters.tempreature",
        ])
    }

    func testPlatformInitSettingsAreAcceptedWhateverTheComponentDeclares() throws {
        var values = try XCTUnwrap(component.objectValue)
        values["componentInitSettingsProtocol"] = ["model_dir": ["type": "string"]]
        values["componentInitSettings"] = ["model_dir": "/models", "timeout_ms": 5000]
        let declaresOthers = try ComponentSpec(envelope: SpecEnvelope(document: .object(values)))
        func block(_ initSettings: JSONValue) throws -> BlockSpec {
            try BlockSpec(envelope: SpecEnvelope(document: [
                "blockComponentURI": "model.chat:1.0.0-stable", "minInstances": 1, "maxInstances": 1, "initSettings": initSettings,
            ]))
        }
        let resolved = try block(["timeout_ms": 60000]).resolve(with: declaresOthers)
        XCTAssertEqual(resolved.initSettings, ["model_dir": "/models", "timeout_ms": 60000])
        // Still checked, against the platform's own rules; the component's own keys against its protocol.
        XCTAssertEqual(paths { _ = try block(["timeout_ms": -1, "model_dir": 3, "tiemout_ms": 1]).resolve(with: declaresOthers) }, [
            "initSettings.model_dir", "initSettings.tiemout_ms", "initSettings.timeout_ms",
        ])
    }

    func testBlockShapeErrors() {
        XCTAssertEqual(paths { _ = try BlockSpec(envelope: SpecEnvelope(document: [
            "blockId": "Bad_Id", "blockComponentURI": "nope", "minInstances": 3, "maxInstances": 2,
            "policyRulesSpec": [["values": ["name": "lb"]], 7],
        ])) }, [
            "blockComponentURI", "blockId", "maxInstances", "policyRulesSpec[0].values.policyRuleURI", "policyRulesSpec[1]",
        ])
    }

    func testClusterTotalsAreSummedFromNodes() throws {
        let cluster = try ClusterSpec(envelope: SpecEnvelope(document: [
            "id": "c1", "regionId": "r",
            "nodes": ["nodeData": [
                ["id": "n1", "vcpus": ["count": 8], "memory": 1000, "gpus": ["gpus": [["modelName": "A100", "memory": 40000]]]],
                ["id": "n2", "vcpus": ["count": 4], "memory": 500, "gpus": ["count": 2, "memory": 32000]],
            ]],
        ]))
        let document = cluster.assembled
        XCTAssertEqual(document.value(atDottedPath: "gpus.count"), 3)
        XCTAssertEqual(document.value(atDottedPath: "gpus.memory"), 72000)
        XCTAssertEqual(document.value(atDottedPath: "vcpus.count"), 12)
        XCTAssertEqual(document.value(atDottedPath: "nodes.count"), 2)
    }

    func testClusterErrors() {
        XCTAssertEqual(paths { _ = try ClusterSpec(envelope: SpecEnvelope(document: [
            "id": "c 1", "gpus": ["count": 5],
            "nodes": ["count": 3, "nodeData": [["id": "n1", "gpus": ["count": 2, "gpus": [["memory": 1]]]], ["id": "n1"]]],
        ])) }, ["gpus.count", "id", "nodes.count", "nodes.nodeData[0].gpus.count", "nodes.nodeData[1].id"])
    }

    func testAddNodeAcceptsBothAIOSShapes() throws {
        let nested = try AddNodeRequest(envelope: SpecEnvelope(document: ["clusterId": "c1", "nodeData": ["id": "n1"]]))
        let flat = try AddNodeRequest(envelope: SpecEnvelope(document: ["clusterId": "c1", "id": "n1"]))
        XCTAssertEqual(nested.node.id, "n1")
        XCTAssertEqual(flat.node.id, "n1")
        XCTAssertEqual(paths { _ = try AddNodeRequest(envelope: SpecEnvelope(document: ["nodeData": ["vcpus": 3]])) },
                       ["clusterId", "nodeData.id", "nodeData.vcpus"])
    }

    func testSpecKindDetection() {
        XCTAssertEqual(SpecKind.detect(["blockComponentURI": "x"]), .block)
        XCTAssertEqual(SpecKind.detect(["componentId": [:]]), .component)
        XCTAssertEqual(SpecKind.detect(["clusterId": "c", "nodeData": [:]]), .node)
        XCTAssertEqual(SpecKind.detect(["id": "c", "regionId": "r"]), .cluster)
        XCTAssertNil(SpecKind.detect(["hello": 1]))
    }
}
