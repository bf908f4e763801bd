import AIOSModel
import AIOSQuery
import XCTest

/// Properties of the filter language over random documents and random conditions (seeded, so failures repeat).
final class FilterPropertyTests: XCTestCase {

    var random = SplitMix64(seed: 20261129)
    let vendors = ["dma-bangalore", "acme", "nebula", "dma-pune"]

    func randomCluster() -> JSONValue {
        let nodes = (0..<Int.random(in: 0...3, using: &random)).map { index -> JSONValue in
            ["id": .string("n\(index)"), "gpus": ["count": .number(Double(Int.random(in: 0...8, using: &random)))]]
        }
        return [
            "id": .string("c\(Int.random(in: 0...99, using: &random))"),
            "reputation": .number(Double(Int.random(in: 0...100, using: &random))),
            "gpus": ["count": .number(Double(Int.random(in: 0...16, using: &random)))],
            "clusterMetadata": ["vendor": .string(vendors.randomElement(using: &random)!)],
            "tags": .array((0..<Int.random(in: 0...3, using: &random)).map { _ in .string(["gpu", "cpu", "edge"].randomElement(using: &random)!) }),
            "nodes": ["nodeData": .array(nodes)],
        ]
    }

    func randomCondition() -> JSONValue {
        switch Int.random(in: 0...4, using: &random) {
        case 0:
            let op = ["==", "!=", "<", "<=", ">", ">="].randomElement(using: &random)!
            let value = Int.random(in: 0...16, using: &random)
            // Numbers are written as numbers or as strings: both must compare numerically.
            let written: JSONValue = Bool.random(using: &random) ? .number(Double(value)) : .string(String(value))
            return ["variable": "gpus.count", "operator": .string(op), "value": written]
        case 1:
            return ["variable": "clusterMetadata.vendor", "operator": .string(["IN", "NOT IN"].randomElement(using: &random)!),
                    "value": .array(vendors.shuffled(using: &random).prefix(Int.random(in: 1...3, using: &random)).map(JSONValue.string))]
        case 2:
            return ["variable": "clusterMetadata.vendor", "operator": "LIKE", "value": .string(["dma-*", "*a*", "acme", "?cme"].randomElement(using: &random)!)]
        case 3:
            return ["variable": "nodes.nodeData.gpus.count", "operator": .string([">=", "<", "=="].randomElement(using: &random)!),
                    "value": .number(Double(Int.random(in: 0...8, using: &random)))]
        default:
            return ["variable": "tags", "operator": .string(["==", "!="].randomElement(using: &random)!), "value": .string(["gpu", "cpu"].randomElement(using: &random)!)]
        }
    }

    func parse(_ json: JSONValue) throws -> FilterQuery {
        try FilterQuery.parse(json, at: .root, schema: .cluster)
    }

    func testLogicalLaws() throws {
        for _ in 0..<400 {
            let document = randomCluster()
            let a = randomCondition(), b = randomCondition()
            let qa = try parse(a).matches(document), qb = try parse(b).matches(document)
            XCTAssertEqual(try parse(["logicalOperator": "AND", "conditions": [a, b]]).matches(document), qa && qb)
            XCTAssertEqual(try parse(["logicalOperator": "AND", "conditions": [b, a]]).matches(document), qa && qb)
            XCTAssertEqual(try parse(["logicalOperator": "OR", "conditions": [a, b]]).matches(document), qa || qb)
            XCTAssertEqual(try parse(["logicalOperator": "NOT", "conditions": [a]]).matches(document), !qa)
            XCTAssertEqual(try parse(["logicalOperator": "NOT", "conditions": [a, b]]).matches(document), !(qa && qb))
            XCTAssertTrue(try parse(["logicalOperator": "OR", "conditions": [a, ["logicalOperator": "NOT", "conditions": [a]]]]).matches(document))
            // A query that does not match always says why; one that matches never does.
            let failures = try parse(["logicalOperator": "AND", "conditions": [a, b]]).failures(document)
            XCTAssertEqual(failures.isEmpty, qa && qb)
        }
    }

    func testStringAndNumberValuesCompareAlike() throws {
        for _ in 0..<300 {
            let document = randomCluster()
            let value = Int.random(in: 0...16, using: &random)
            for op in ["==", "!=", "<", "<=", ">", ">="] {
                let number = try parse(["variable": "gpus.count", "operator": .string(op), "value": .number(Double(value))]).matches(document)
                let string = try parse(["variable": "gpus.count", "operator": .string(op), "value": .string(String(value))]).matches(document)
                XCTAssertEqual(number, string, "\(op) \(value)")
                let actual = document.value(atDottedPath: "gpus.count")?.numberValue ?? -1
                let expected: Bool = switch op {
                case "==": actual == Double(value)
                case "!=": actual != Double(value)
                case "<": actual < Double(value)
                case "<=": actual <= Double(value)
                case ">": actual > Double(value)
                default: actual >= Double(value)
                }
                XCTAssertEqual(number, expected, "gpus.count \(actual) \(op) \(value)")
            }
        }
    }

    func testArrayPathsMatchIfAnyElementMatches() throws {
        for _ in 0..<300 {
            let document = randomCluster()
            let threshold = Int.random(in: 0...8, using: &random)
            let counts = document["nodes"]?["nodeData"]?.arrayValue?.compactMap { $0["gpus"]?["count"]?.numberValue } ?? []
            let matched = try parse(["variable": "nodes.nodeData.gpus.count", "operator": ">=", "value": .number(Double(threshold))]).matches(document)
            XCTAssertEqual(matched, counts.contains { $0 >= Double(threshold) })
            let inList = try parse(["variable": "nodes.nodeData.gpus.count", "operator": "IN", "value": [.number(Double(threshold))]]).matches(document)
            let notInList = try parse(["variable": "nodes.nodeData.gpus.count", "operator": "NOT IN", "value": [.number(Double(threshold))]]).matches(document)
            XCTAssertEqual(inList, !notInList)
        }
    }
}
