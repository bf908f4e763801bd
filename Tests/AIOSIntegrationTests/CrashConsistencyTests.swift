import AIOSModel
import Foundation
import XCTest

/// Concurrent creates and removes, `kill -9` of `aios up` at seeded random moments, restart: every acknowledged block
/// exists (and every acknowledged removal stays removed), nothing is left in a transitional phase, and the instance
/// processes alive are exactly the recorded ones, none twice and no orphan.
final class CrashConsistencyTests: XCTestCase {
    static let settled: Set<String> = ["Ready", "Degraded", "Failed"]

    func testKilledMidChangeThePlatformComesBackWithExactlyTheRecordedInstances() async throws {
        let directory = temporaryDirectory("crash")
        defer { try? FileManager.default.removeItem(at: directory) }
        var generator = SplitMix64Generator(seed: 20261206)
        var platform = try PlatformProcess(dataDirectory: directory)
        let component = try await platform.post("/api/addComponent", json: Fixtures.chatComponent)
        XCTAssertEqual(component.status, 200)

        var created: Set<String> = []  // acknowledged and not acknowledged removed
        var removed: Set<String> = []
        for round in 0..<4 {
            let creates = (0..<4).map { "r\(round)-b\($0)" }
            let removals = Array(created.shuffled(using: &generator).prefix(2))
            let killAfter = Int.random(in: 50...600, using: &generator)
            let target = platform
            let outcomes = await withTaskGroup(of: (String, Bool, Bool).self) { group -> [(String, Bool, Bool)] in
                for id in creates {
                    group.addTask {
                        let reply = try? await target.post("/api/createBlock", json: Fixtures.envelope([
                            "blockId": .string(id), "blockComponentURI": "model.chat:1.0.0-stable", "minInstances": 1, "maxInstances": 1,
                        ]))
                        return (id, true, reply?.status == 200)
                    }
                }
                for id in removals {
                    group.addTask {
                        let reply = try? await target.post("/api/removeBlock", json: ["blockId": .string(id)])
                        return (id, false, reply?.status == 200)
                    }
                }
                group.addTask {
                    try? await Task.sleep(for: .milliseconds(killAfter))
                    target.stop(signal: SIGKILL, timeout: 5)
                    return ("", false, false)
                }
                var results: [(String, Bool, Bool)] = []
                for await result in group { results.append(result) }
                return results
            }
            for (id, isCreate, acknowledged) in outcomes where acknowledged {
                if isCreate { created.insert(id) } else { created.remove(id); removed.insert(id) }
            }

            platform = try PlatformProcess(dataDirectory: directory)
            let blocks = try await settledBlocks(platform)
            let ids = Set(blocks.compactMap { $0["blockId"]?.stringValue })
            XCTAssertTrue(created.isSubset(of: ids), "round \(round): acknowledged blocks lost: \(created.subtracting(ids).sorted())")
            XCTAssertTrue(removed.isDisjoint(with: ids), "round \(round): removed blocks came back: \(removed.intersection(ids).sorted())")
            created.formUnion(ids)  // unacknowledged creates that landed are blocks like the others now
            try await assertLiveInstancesAreTheRecordedOnes(platform, directory: directory, round: round)
        }
        platform.stop()
        XCTAssertEqual(liveInstanceIds(directory: directory), [], "instances outlived a clean shutdown")
    }

    /// The blocks once none is in a transitional phase (at most 30 s after the restart).
    private func settledBlocks(_ platform: PlatformProcess) async throws -> [JSONValue] {
        let deadline = Date().addingTimeInterval(30)
        var blocks: [JSONValue] = []
        while Date() < deadline {
            blocks = try await platform.get("/api/blocks").body.arrayValue ?? []
            if blocks.allSatisfy({ Self.settled.contains($0["phase"]?.stringValue ?? "") }) { return blocks }
            try await Task.sleep(for: .milliseconds(200))
        }
        XCTFail("blocks still in a transitional phase 30 s after the restart: \(blocks.map { "\($0["blockId"]?.stringValue ?? "?"): \($0["phase"]?.stringValue ?? "?")" })")
        return blocks
    }

    private func assertLiveInstancesAreTheRecordedOnes(_ platform: PlatformProcess, directory: URL, round: Int) async throws {
        // Instances reach their supervisor's view within a moment of Ready: compare once both agree, or fail after 10 s.
        let deadline = Date().addingTimeInterval(10)
        var recorded: [String] = [], live: [String] = []
        while Date() < deadline {
            let blocks = try await platform.get("/api/blocks").body.arrayValue ?? []
            recorded = blocks.flatMap { block in
                (block["instances"]?.arrayValue ?? []).filter { ["Running", "Starting"].contains($0["phase"]?.stringValue ?? "") }.compactMap { $0["instanceId"]?.stringValue }
            }.sorted()
            live = liveInstanceIds(directory: directory)
            if live == recorded { return }
            try await Task.sleep(for: .milliseconds(250))
        }
        XCTAssertEqual(live, recorded, "round \(round): live instance processes differ from the recorded instances")
    }

    /// The `AIOS_INSTANCE_ID` of every live process started for this data directory, sorted (twice if it runs twice).
    private func liveInstanceIds(directory: URL) -> [String] {
        var ids: [String] = []
        let marker = "AIOS_BLOCK_FILE=\(directory.path)"
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] where Int(entry) != nil {
            guard let data = FileManager.default.contents(atPath: "/proc/\(entry)/environ") else { continue }
            let variables = data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            guard variables.contains(where: { $0.hasPrefix(marker) }) else { continue }
            if let status = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8), status.contains(") Z ") { continue }
            if let id = variables.first(where: { $0.hasPrefix("AIOS_INSTANCE_ID=") }) {
                ids.append(String(id.dropFirst("AIOS_INSTANCE_ID=".count)))
            }
        }
        return ids.sorted()
    }
}

/// A seeded generator, so a failing round can be replayed.
struct SplitMix64Generator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE5_E9B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
