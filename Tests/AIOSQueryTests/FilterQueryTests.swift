import AIOSModel
import AIOSQuery
import XCTest

final class FilterQueryTests: XCTestCase {
    let cluster: JSONValue = [
        "id": "c1", "regionId": "ap-south-1", "tags": ["gpu", "a100"], "reputation": 90,
        "clusterMetadata": ["vendor": "dma-bangalore", "zone": "blr-a"],
        "gpus": ["count": 6, "memory": 245760],
        "nodes": ["count": 2, "nodeData": [
            ["id": "n1", "gpus": ["count": 4, "gpus": [["modelName": "NVIDIA A100", "memory": 40960]]], "labels": ["tier": "gold"]],
            ["id": "n2", "gpus": ["count": 2, "gpus": [["modelName": "NVIDIA L4", "memory": 23034]]]],
        ]],
    ]

    func query(_ json: JSONValue, schema: VariableSchema = .cluster) throws -> FilterQuery {
        try FilterQuery.parse(json, at: FieldPath(dotted: "filter"), schema: schema)
    }

    func condition(_ variable: String, _ op: String, _ value: JSONValue) -> JSONValue {
        ["variable": .string(variable), "operator": .string(op), "value": value]
    }

    func testOperators() throws {
        let cases: [(JSONValue, Bool)] = [
            (condition("gpus.count", "==", 6), true),
            (condition("gpus.count", "!=", 6), false),
            (condition("gpus.count", ">=", "6"), true),
            (condition("gpus.count", ">", "10"), false),
            (condition("gpus.count", "<", 10), true),
            (condition("gpus.count", "<=", 5), false),
            (condition("clusterMetadata.vendor", "IN", ["acme", "dma-bangalore"]), true),
            (condition("clusterMetadata.vendor", "IN ANY", ["acme"]), false),
            (condition("clusterMetadata.vendor", "NOT IN", ["acme"]), true),
            (condition("clusterMetadata.vendor", "LIKE", "dma-*"), true),
            (condition("clusterMetadata.vendor", "LIKE", "dma"), false),
            (condition("clusterMetadata.vendor", "like", "*bangalor?"), true),
            (condition("regionId", "LIKE", "south"), false),
        ]
        for (json, expected) in cases {
            XCTAssertEqual(try query(json).matches(cluster), expected, json.jsonString())
        }
    }

    func testArraysMatchWhenAnyElementDoes() throws {
        XCTAssertTrue(try query(condition("tags", "==", "a100")).matches(cluster))
        XCTAssertTrue(try query(condition("nodes.nodeData.gpus.count", ">=", 4)).matches(cluster))
        XCTAssertFalse(try query(condition("nodes.nodeData.gpus.count", ">", 4)).matches(cluster))
        XCTAssertTrue(try query(condition("nodes.nodeData.gpus.gpus.modelName", "LIKE", "*L4")).matches(cluster))
        // != and NOT IN hold only when no element matches.
        XCTAssertFalse(try query(condition("tags", "!=", "gpu")).matches(cluster))
        XCTAssertFalse(try query(condition("tags", "NOT IN", ["cpu", "gpu"])).matches(cluster))
        XCTAssertTrue(try query(condition("tags", "NOT IN", ["cpu"])).matches(cluster))
    }

    func testLogicalNesting() throws {
        let json: JSONValue = ["logicalOperator": "AND", "conditions": [
            condition("gpus.count", ">=", 3),
            ["logicalOperator": "OR", "conditions": [condition("regionId", "==", "eu"), condition("clusterMetadata.zone", "==", "blr-a")]],
            ["logicalOperator": "NOT", "conditions": [condition("reputation", "<", 50)]],
        ]]
        XCTAssertTrue(try query(json).matches(cluster))
    }

    func testAggregates() throws {
        XCTAssertTrue(try query(["aggOperator": "count", "target": "nodes.nodeData.id", "operator": "==", "value": 2]).matches(cluster))
        XCTAssertTrue(try query(["aggOperator": "sum", "target": "nodes.nodeData.gpus.count", "operator": "==", "value": 6]).matches(cluster))
        XCTAssertTrue(try query(["aggOperator": "avg", "target": "nodes.nodeData.gpus.count", "operator": "==", "value": "3"]).matches(cluster))
        XCTAssertTrue(try query(["aggOperator": "min", "target": "nodes.nodeData.gpus.gpus.memory", "operator": "<", "value": 24000]).matches(cluster))
        XCTAssertFalse(try query(["aggOperator": "max", "target": "nodes.nodeData.gpus.gpus.memory", "operator": ">", "value": 50000]).matches(cluster))
    }

    func testAnAggregateNeedsAPathThroughAList() {
        for target in ["gpus.count", "reputation", "clusterMetadata.zone"] {
            XCTAssertThrowsError(try FilterQuery.parse(["aggOperator": "sum", "target": .string(target), "operator": ">", "value": 1],
                                                       at: FieldPath(dotted: "filter"), schema: .cluster, samples: [cluster]), target) { error in
                XCTAssertEqual((error as? APIError)?.fields.map(\.path), ["filter.target"])
                XCTAssertTrue((error as? APIError)?.fields.first?.message.contains("not a list") == true, "\(error)")
            }
        }
        XCTAssertNoThrow(try query(["aggOperator": "count", "target": "tags", "operator": "==", "value": 2]))
        XCTAssertNoThrow(try query(["aggOperator": "max", "target": "nodes.gpus.freeMem", "operator": ">", "value": 1], schema: .clusterMetrics))
        XCTAssertThrowsError(try query(["aggOperator": "max", "target": "cluster.gpu.totalFreeMem", "operator": ">", "value": 1], schema: .clusterMetrics))
    }

    func testMetricNamesAcceptBothSpellings() throws {
        let metrics: JSONValue = ["cluster": ["vcpu": ["load15m": 4]]]
        for name in ["cluster.vcpu.load15m", "cluster.vcpu.load_15m"] {
            XCTAssertTrue(try query(condition(name, "<", "10"), schema: .clusterMetrics).matches(metrics), name)
        }
    }

    func testCustomKeysUnderOpenSubtreesAreKnown() throws {
        XCTAssertTrue(try query(condition("clusterMetadata.anything.deep", "==", "x")).matches(["clusterMetadata": ["anything": ["deep": "x"]]]))
        XCTAssertTrue(try query(condition("nodes.nodeData.labels.tier", "==", "gold")).matches(cluster))
    }

    func testErrorsNameTheConditionByPath() {
        let json: JSONValue = ["logicalOperator": "AND", "conditions": [
            condition("gpus.cnt", ">=", 1),
            condition("gpus.count", "=~", 1),
            condition("gpus.count", ">", "many"),
            condition("tags", "IN", "gpu"),
            condition("regionId", "LIKE", 5),
            ["aggOperator": "median", "target": "nodes.nodeData.gpus.count", "operator": ">", "value": 1],
            ["logicalOperator": "XOR", "conditions": []],
        ]]
        XCTAssertThrowsError(try query(json)) { error in
            XCTAssertEqual((error as? APIError)?.fields.map(\.path), [
                "filter.conditions[0].variable", "filter.conditions[1].operator", "filter.conditions[2].value",
                "filter.conditions[3].value", "filter.conditions[4].value", "filter.conditions[5].aggOperator",
                "filter.conditions[6].logicalOperator",
            ])
        }
    }

    func testFailuresShowTheActualValues() throws {
        let failures = try query(["logicalOperator": "AND", "conditions": [
            condition("gpus.count", ">", 10), condition("clusterMetadata.vendor", "==", "acme"), condition("regionId", "==", "ap-south-1"),
        ]]).failures(cluster)
        XCTAssertEqual(failures.map(\.description), ["gpus.count = 6, needs > 10", "clusterMetadata.vendor = dma-bangalore, needs == acme"])
        XCTAssertEqual(failures.first?.location, "filter.conditions[0]")
    }

    func testGlob() {
        XCTAssertTrue(Glob("A100*").matches("A100-SXM4"))
        XCTAssertTrue(Glob("*").matches(""))
        XCTAssertTrue(Glob("a*b*c").matches("axxbyyc"))
        XCTAssertFalse(Glob("a*b*c").matches("axxbyy"))
        XCTAssertTrue(Glob("?100").matches("A100"))
        XCTAssertFalse(Glob("100").matches("A100"))
    }
}
