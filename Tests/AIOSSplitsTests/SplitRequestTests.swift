import AIOSModel
import AIOSSplits
import XCTest

final class SplitRequestTests: XCTestCase {
    private func problems(_ body: JSONValue) -> [String] {
        do {
            _ = try SplitRequest(document: body)
            return []
        } catch {
            return error.fields.map(\.description)
        }
    }

    func testTheIssuesShapeReadsWithDefaults() throws {
        let request = try SplitRequest(document: ["model": "/models/m.gguf", "splits": 3, "splitter": "layer-range"])
        XCTAssertEqual(request.splits, 3)
        XCTAssertEqual(request.strategy, .even)
        XCTAssertEqual(request.gpus, 0)
        XCTAssertEqual(request.runner.description, SplitRequest.defaultRunner)
        let data = request.taskData(targets: [])
        XCTAssertEqual(data["splits"], 3)
        XCTAssertEqual(data["splitter"], "layer-range")
        XCTAssertEqual(data["target_nodes"], [])
    }

    func testBalancedNeedsTargetsAndDefaultsToGPUsOnACluster() throws {
        XCTAssertTrue(problems(["model": "/m.gguf", "splits": 2, "strategy": "balanced"]).contains { $0.hasPrefix("strategy") && $0.contains("target_nodes or clusterId") })
        let onCluster = try SplitRequest(document: ["model": "/m.gguf", "strategy": "balanced", "clusterId": "sim", "splits": 2])
        XCTAssertEqual(onCluster.gpus, 1)
        let targeted = try SplitRequest(document: ["model": "/m.gguf", "strategy": "balanced",
                                                   "target_nodes": [["nodeId": "a", "freeMemoryMB": 300], ["nodeId": "b", "freeMemoryMB": 200]]])
        XCTAssertNil(targeted.splits)
        XCTAssertEqual(targeted.taskData(targets: targeted.targetNodes)["splits"], 2, "one split per target node")
    }

    func testBadFieldsAreAllNamed() {
        let found = problems(["model": "relative.gguf", "splits": 0, "splitter": "magic", "strategy": "random", "runner": "nope",
                              "colour": "blue", "target_nodes": [["nodeId": "a"]]])
        for prefix in ["model", "splits", "splitter", "strategy", "runner", "colour", "target_nodes[0].freeMemoryMB"] {
            XCTAssertTrue(found.contains { $0.hasPrefix(prefix + ":") }, "\(prefix) in \(found)")
        }
        XCTAssertTrue(problems(["splits": 2]).contains { $0.hasPrefix("model: required") })
        XCTAssertTrue(problems(["model": "/m.gguf"]).contains { $0.hasPrefix("splits: required") })
    }

    func testAProgramSplitterNeedsACommand() throws {
        let request = try SplitRequest(document: ["model": "/m.gguf", "splits": 2, "splitter": ["command": ["python3", "my_splitter.py"], "cwd": "/srv"]])
        XCTAssertEqual(request.splitter, .program(command: ["python3", "my_splitter.py"], cwd: "/srv", environment: [:]))
        XCTAssertTrue(problems(["model": "/m.gguf", "splits": 2, "splitter": ["command": []]]).contains { $0.hasPrefix("splitter.command") })
    }
}
