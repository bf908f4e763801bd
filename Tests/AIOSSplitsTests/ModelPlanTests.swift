import AIOSModel
import AIOSSplits
import XCTest

final class ModelPlanTests: XCTestCase {
    private func problems(_ plan: JSONValue) -> [String] {
        do {
            _ = try ModelPlan(document: plan)
            return []
        } catch {
            return error.fields.map(\.description)
        }
    }

    func testAValidPlanReadsWithItsSplitsInOrder() throws {
        let plan = try ModelPlan(document: PlanFixtures.plan())
        XCTAssertEqual(plan.model.layers, 30)
        XCTAssertEqual(plan.splits.map(\.layers), [0..<10, 10..<20, 20..<30])
        XCTAssertEqual(plan.splits.map(\.block.blockId), ["b-0", "b-1", "b-2"])
        XCTAssertEqual(plan.vdag.uri.description, "smollm2-test:0.0.1-stable")
        let one = try ModelPlan(document: PlanFixtures.plan(ranges: [(0, 30)]))
        XCTAssertEqual(one.splits.count, 1, "one split is the unsplit model")
    }

    func testStoringArtifactsReplacesFilesWithURIs() throws {
        let stored = try ModelPlan(document: PlanFixtures.plan()).storingArtifacts()
        let artifact = stored["splits"]?.arrayValue?[1]["artifact"]
        XCTAssertNil(artifact?["file"])
        XCTAssertEqual(artifact?["uri"]?.stringValue, "/api/artifacts/\(PlanFixtures.digest)")
        XCTAssertNoThrow(try ModelPlan(document: stored), "a stored plan reads back")
    }

    func testGapsOverlapsAndShortCoverageAreNamed() {
        XCTAssertTrue(problems(PlanFixtures.plan(ranges: [(0, 10), (12, 30)])).contains {
            $0.hasPrefix("splits[1].layers") && $0.contains("layers 10..<12 are in no split")
        }, "\(problems(PlanFixtures.plan(ranges: [(0, 10), (12, 30)])))")
        XCTAssertTrue(problems(PlanFixtures.plan(ranges: [(0, 10), (8, 30)])).contains {
            $0.hasPrefix("splits[1].layers") && $0.contains("inside the previous split")
        })
        XCTAssertTrue(problems(PlanFixtures.plan(ranges: [(0, 10), (10, 20)])).contains {
            $0.contains("cover layers [0, 20) but the model has 30")
        })
        XCTAssertTrue(problems(PlanFixtures.plan(ranges: [(0, 10), (10, 10), (10, 30)])).contains {
            $0.hasPrefix("splits[1].layers") && $0.contains("0 <= start < end")
        })
    }

    func testEverySplitFieldIsChecked() {
        var plan = PlanFixtures.setting(PlanFixtures.plan(), ["splits", 1, "splitId"], to: "split-0")
        plan = PlanFixtures.setting(plan, ["splits", 0, "artifact", "sha256"], to: "XYZ")
        plan = PlanFixtures.setting(plan, ["splits", 2, "artifact", "file"], to: "../etc/passwd")
        plan = PlanFixtures.setting(plan, ["splits", 2, "memoryMB"], to: 0)
        plan = PlanFixtures.setting(plan, ["model", "layers"], to: "thirty")
        let found = problems(plan)
        XCTAssertTrue(found.contains { $0.hasPrefix("splits[1].splitId") && $0.contains("used by an earlier split") }, "\(found)")
        XCTAssertTrue(found.contains { $0.hasPrefix("splits[0].artifact.sha256") }, "\(found)")
        XCTAssertTrue(found.contains { $0.hasPrefix("splits[2].artifact.file") }, "\(found)")
        XCTAssertTrue(found.contains { $0.hasPrefix("splits[2].memoryMB") }, "\(found)")
        XCTAssertTrue(found.contains { $0.hasPrefix("model.layers") }, "\(found)")
    }

    func testTheBlockMustAskForTheSplitsMemory() {
        let plan = PlanFixtures.setting(PlanFixtures.plan(), ["splits", 1, "block"], to: PlanFixtures.block("b-1", memoryMB: 100))
        XCTAssertTrue(problems(plan).contains {
            $0.hasPrefix("splits[1].block.body.spec.values.policyRulesSpec[0].values.parameters.memory") && $0.contains("less than the split's memoryMB 300")
        }, "\(problems(plan))")
        let gpu = PlanFixtures.setting(PlanFixtures.plan(), ["splits", 0, "block"], to: PlanFixtures.block("b-0", memoryMB: 200, gpus: 1))
        XCTAssertTrue(problems(gpu).contains { $0.contains("min_gpu_free_memory") && $0.contains("asks 200 MB per GPU") }, "\(problems(gpu))")
        let invalid = PlanFixtures.setting(PlanFixtures.plan(), ["splits", 2, "block", "body", "spec", "values", "minInstances"], to: "one")
        XCTAssertTrue(problems(invalid).contains { $0.hasPrefix("splits[2].block.body.spec.values.minInstances") }, "\(problems(invalid))")
    }

    func testTheVDAGMustChainTheSplitsBlocksInOrder() {
        let swapped = PlanFixtures.setting(PlanFixtures.plan(), ["vdag"], to: PlanFixtures.vdag([("split-0", "b-0"), ("split-2", "b-2"), ("split-1", "b-1")]))
        let found = problems(swapped)
        XCTAssertTrue(found.contains { $0.hasPrefix("vdag.graph.output") && $0.contains("last split's node \"split-2\"") }, "\(found)")
        XCTAssertTrue(found.contains { $0.hasPrefix("vdag.graph.connections") && $0.contains("must have exactly the previous split's node") }, "\(found)")
        let short = PlanFixtures.setting(PlanFixtures.plan(), ["vdag"], to: PlanFixtures.vdag([("split-0", "b-0"), ("split-1", "b-1")]))
        XCTAssertTrue(problems(short).contains { $0.hasPrefix("vdag.nodes") && $0.contains("no node runs split split-2's block \"b-2\"") }, "\(problems(short))")
        let broken = PlanFixtures.setting(PlanFixtures.plan(), ["vdag", "vdagName"], to: nil)
        XCTAssertTrue(problems(broken).contains { $0.hasPrefix("vdag.vdagName") }, "\(problems(broken))")
    }

    func testAnotherPlanVersionIsRefused() {
        XCTAssertTrue(problems(PlanFixtures.setting(PlanFixtures.plan(), ["planVersion"], to: 2)).contains { $0.contains("reads plan version 1, got 2") })
    }
}
