import AIOSModel
import AIOSPlacement
import XCTest

/// Plugins of one's own, added to a copy of the built-in list: the placer needs no change to run them.
final class CustomPluginTests: XCTestCase {
    typealias F = PlacementFixtures

    /// Keeps instances off nodes in maintenance, as the `maintenance` label says; the `allow_maintenance`
    /// parameter of the `resourceAllocator` lifts it.
    struct MaintenanceFilter: NodeFilter {
        let name = "maintenance"

        func filter(_ node: NodeCandidate, request: ResourceRequest, state: PlacementState) -> FilterVerdict {
            guard node.node.labels["maintenance"] == "true", request.parameters["allow_maintenance"]?.boolValue != true else { return .pass }
            return .reject("in maintenance (label maintenance=true)")
        }
    }

    /// Rejects GPUs with odd ids.
    struct EvenGPUFilter: GPUFilter {
        let name = "even-gpus"

        func filter(_ gpu: GPUCandidate, on node: NodeCandidate, request: ResourceRequest, state: PlacementState) -> FilterVerdict {
            (Int(gpu.gpu.id) ?? 0).isMultiple(of: 2) ? .pass : .reject("odd")
        }
    }

    func testACustomNodeFilterRunsWithTheBuiltIns() throws {
        let clusters = [F.cluster("c", [F.node("a", labels: ["maintenance": "true"], load: 0.1), F.node("b", load: 5)])]
        XCTAssertEqual(F.place(ResourceRequest(selectionMode: .lightestLoad), clusters).reservations.map(\.nodeId), ["a"])

        var plugins = PlacementPlugins.builtIn
        plugins.filters.append(MaintenanceFilter())
        let outcome = F.place(ResourceRequest(selectionMode: .lightestLoad), clusters, plugins: plugins)
        XCTAssertEqual(outcome.reservations.map(\.nodeId), ["b"])
        let a = try XCTUnwrap(outcome.report.clusters.first?.nodes.first { $0.nodeId == "a" })
        XCTAssertEqual(a.plugins?.last?.plugin, "maintenance")
        XCTAssertEqual(a.plugins?.last?.reasons, ["in maintenance (label maintenance=true)"])

        let allowed = ResourceRequest(selectionMode: .lightestLoad, parameters: ["allow_maintenance": true])
        XCTAssertEqual(F.place(allowed, clusters, plugins: plugins).reservations.map(\.nodeId), ["a"])

        guard case .unplaced(let report) = F.place(ResourceRequest(nodeSelector: ["maintenance": "true"]), clusters, plugins: plugins) else {
            return XCTFail("placed on a node in maintenance")
        }
        XCTAssertTrue(report.lines.joined().contains("in maintenance"), report.lines.joined(separator: "\n"))
    }

    func testACustomGPUFilterDecidesWhichGPUsCount() {
        let clusters = [F.cluster("c", [F.node("n", gpus: F.gpus(4))])]
        var plugins = PlacementPlugins.builtIn
        plugins.gpuFilters.append(EvenGPUFilter())
        XCTAssertEqual(F.place(ResourceRequest(gpus: 2), clusters, plugins: plugins).reservations.first?.gpus, ["0", "2"])
        guard case .unplaced(let report) = F.place(ResourceRequest(gpus: 3), clusters, plugins: plugins) else {
            return XCTFail("counted odd GPUs")
        }
        XCTAssertTrue(report.lines.joined().contains("2 of 4 GPUs qualify, needs 3: GPU 1: odd; GPU 3: odd"), report.lines.joined(separator: "\n"))
    }

    func testAScorerOutOfRangeIsClamped() throws {
        struct Wild: NodeScorer {
            let name = "wild"
            let weight = 1.0
            func scores(_ nodes: [NodeCandidate], request: ResourceRequest, state: PlacementState) -> [Double] {
                nodes.map { $0.id == "a" ? .nan : 1e9 }.dropLast(nodes.count > 2 ? 1 : 0)
            }
        }
        var plugins = PlacementPlugins.builtIn
        plugins.scorers = [Wild()]
        let outcome = F.place(ResourceRequest(), [F.cluster("c", [F.node("a"), F.node("b"), F.node("c")])], plugins: plugins)
        XCTAssertEqual(outcome.reservations.map(\.nodeId), ["b"])
        let scores = try XCTUnwrap(outcome.report.clusters.first?.nodes).map { $0.plugins?.last?.score }
        XCTAssertEqual(scores, [100, 0, 0], "b clamped to 100; a NaN and c missing count as 0")
    }
}
