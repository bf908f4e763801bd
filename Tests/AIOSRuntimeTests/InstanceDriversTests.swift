import AIOSModel
import AIOSRuntime
import XCTest

/// Clusters find their driver by name: `host` for `local`, `simulated` for the others, or the one they name; a new
/// driver is one more entry in the list and nothing else.
final class InstanceDriversTests: XCTestCase {
    /// A driver that exists only here: registering it is all it takes for a cluster to use it.
    private struct ElsewhereDriver: InstanceDriver {
        let name = "elsewhere"
        func refusal(for workload: InstanceWorkload.Kind) -> String? { workload == .command ? "runs images only" : nil }
        func start(_ launch: InstanceLaunch) async throws -> any InstanceRun { throw DriverError("not here") }
        func reconcile(recorded: [InstanceKey: InstanceRecord]) async -> [InstanceKey: any InstanceRun] { [:] }
        func runJob(_ job: JobLaunch, onLine: @escaping @Sendable (Substring) async -> Void) async -> ProgramEnding { .notStarted("not here") }
    }

    private struct NamedDriver: InstanceDriver {
        let name: String
        func refusal(for workload: InstanceWorkload.Kind) -> String? { nil }
        func start(_ launch: InstanceLaunch) async throws -> any InstanceRun { throw DriverError("not here") }
        func reconcile(recorded: [InstanceKey: InstanceRecord]) async -> [InstanceKey: any InstanceRun] { [:] }
        func runJob(_ job: JobLaunch, onLine: @escaping @Sendable (Substring) async -> Void) async -> ProgramEnding { .notStarted("not here") }
    }

    private func cluster(_ id: String, driver: String? = nil) -> ClusterSpec {
        var document: [String: JSONValue] = ["id": .string(id)]
        if let driver { document["driver"] = .string(driver) }
        return ClusterSpec(id: id, document: document, nodes: [])
    }

    func testClustersGetTheirDriverByName() throws {
        let drivers = InstanceDrivers([NamedDriver(name: "host"), NamedDriver(name: "simulated"), ElsewhereDriver()])
        XCTAssertEqual(try drivers.driver(for: cluster("local")).get().name, "host")
        XCTAssertEqual(try drivers.driver(for: cluster("dma-bangalore")).get().name, "simulated")
        let elsewhere = try drivers.driver(for: cluster("fleet", driver: "elsewhere")).get()
        XCTAssertEqual(elsewhere.name, "elsewhere")
        XCTAssertEqual(elsewhere.refusal(for: .command), "runs images only")
        XCTAssertFalse(elsewhere.pullsImagesHere, "by default a driver's nodes pull their own images")
    }

    func testAnUnknownDriverIsAnErrorNamingTheOnesThereAre() {
        let drivers = InstanceDrivers([NamedDriver(name: "host"), NamedDriver(name: "simulated")])
        guard case .failure(let error) = drivers.driver(for: cluster("fleet", driver: "kubernetes")) else {
            return XCTFail("no such driver here")
        }
        XCTAssertTrue(error.description.contains("\"kubernetes\""), error.description)
        XCTAssertTrue(error.description.contains("host, simulated"), error.description)
    }
}
