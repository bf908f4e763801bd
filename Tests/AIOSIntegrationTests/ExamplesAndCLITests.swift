import AIOSModel
import Foundation
import XCTest

/// The shipped examples' curl scripts and the `aios` CLI, against a real `aios up`.
final class ExamplesAndCLITests: XCTestCase {
    typealias Run = Command.Run

    /// The example scripts send `$AIOS_TOKEN`; the CLI finds the admin token in the data directory of the platform
    /// under test (`AIOS_DATA_DIR`, its fallback when no token is given).
    private var token = ""
    private var dataDirectory = ""

    func run(_ arguments: [String], environment: [String: String] = [:], timeout: TimeInterval = 60) throws -> Run {
        try Command.run(arguments, environment: ["AIOS_TOKEN": token].merging(environment) { _, given in given }, timeout: timeout)
    }

    func aios(_ arguments: [String], server: String) throws -> Run {
        try run([PlatformProcess.executable.path] + arguments + ["--server", server], environment: ["AIOS_TOKEN": "", "AIOS_DATA_DIR": dataDirectory])
    }

    private func use(_ platform: PlatformProcess) {
        token = platform.token ?? ""
        dataDirectory = platform.dataDirectory.path
    }

    func testAIOSCurlScriptsWorkUnchanged() async throws {
        let directory = temporaryDirectory("examples")
        defer { try? FileManager.default.removeItem(at: directory) }
        let platform = try PlatformProcess(dataDirectory: directory)
        use(platform)
        let serverURL = String(platform.url.dropFirst("http://".count))

        let cluster = try run(["sh", "examples/clusters/create_cluster.sh"], environment: ["SERVER_URL": serverURL])
        XCTAssertEqual(cluster.status, 0, cluster.stdout + cluster.stderr)
        for example in ["yolov5-block", "mistral7b", "vllm-chat"] {
            for script in ["create_component.sh", "create_block.sh"] {
                let result = try run(["sh", "examples/\(example)/\(script)"], environment: ["SERVER_URL": serverURL])
                XCTAssertEqual(result.status, 0, "\(example)/\(script): \(result.stdout) \(result.stderr)")
                let reply = JSONValue.decodeJSON(Data(result.stdout.utf8))
                XCTAssertEqual(reply?["success"], true, "\(example)/\(script): \(result.stdout)")
            }
        }
        let blocks = try await platform.get("/api/blocks")
        XCTAssertEqual(blocks.body.arrayValue?.compactMap { $0["blockId"]?.stringValue }.sorted(),
                       ["detector-yolo-88", "mistral-chat-88", "vllm-chat-88"])
        let gpuCluster = try await platform.get("/api/clusters/dma-bangalore-gpu-1")
        XCTAssertEqual(gpuCluster.body.value(atDottedPath: "gpus.count"), 8, "4 A100 + 2 L4 + the added node's 2 L4")

        // Running a script twice is refused, and says why.
        let again = try run(["sh", "examples/vllm-chat/create_component.sh"], environment: ["SERVER_URL": serverURL])
        XCTAssertNotEqual(again.status, 0)
        XCTAssertTrue(again.stdout.contains("already exists"), again.stdout)
    }

    func testCLIAppliesGetsDescribesAndDeletes() async throws {
        let directory = temporaryDirectory("cli")
        defer { try? FileManager.default.removeItem(at: directory) }
        let platform = try PlatformProcess(dataDirectory: directory)
        use(platform)
        let server = platform.url

        for file in ["examples/clusters/dma-bangalore.json", "examples/mistral7b/component.json", "examples/mistral7b/block.json"] {
            let applied = try aios(["apply", "-f", file], server: server)
            XCTAssertEqual(applied.status, 0, "\(file): \(applied.stderr)")
            XCTAssertTrue(applied.stdout.contains("created"), applied.stdout)
        }

        // A YAML stream with a node and a block in bare-values form.
        let yamlFile = directory.appendingPathComponent("more.yaml")
        try """
            clusterId: dma-bangalore-gpu-1
            nodeData:
              id: blr-extra
              vcpus: {count: 8}
              gpus: {count: 1, memory: 24000}
            ---
            blockId: mistral-small
            blockComponentURI: model.mistral7b-chat:0.1.0-stable
            minInstances: 1
            maxInstances: 1
            parameters: {temperature: 0.1}
            """.write(to: yamlFile, atomically: true, encoding: .utf8)
        let yaml = try aios(["apply", "-f", yamlFile.path], server: server)
        XCTAssertEqual(yaml.status, 0, yaml.stderr)
        XCTAssertTrue(yaml.stdout.contains("node dma-bangalore-gpu-1/blr-extra created"), yaml.stdout)
        // Without placement policies of its own the block may go anywhere: the only node reporting metrics is `local`.
        XCTAssertTrue(yaml.stdout.contains("block mistral-small (Starting) created"), yaml.stdout)

        let dryRun = try aios(["apply", "--dry-run", "-f", "examples/mistral7b/block.json"], server: server)
        XCTAssertEqual(dryRun.status, 0, dryRun.stderr)
        XCTAssertTrue(dryRun.stdout.contains("cannot be placed (dry run, nothing stored)"), dryRun.stdout)
        XCTAssertTrue(dryRun.stdout.contains("clusterMetadata.vendor = local, needs == dma-bangalore"), dryRun.stdout)

        let json = try aios(["get", "blocks", "-o", "json"], server: server)
        XCTAssertEqual(json.status, 0, json.stderr)
        let ids = JSONValue.decodeJSON(Data(json.stdout.utf8))?.arrayValue?.compactMap { $0["blockId"]?.stringValue }
        XCTAssertEqual(ids?.sorted(), ["mistral-chat-88", "mistral-small"])

        let table = try aios(["get", "clusters"], server: server)
        XCTAssertEqual(table.status, 0, table.stderr)
        XCTAssertTrue(table.stdout.hasPrefix("ID"), table.stdout)
        XCTAssertTrue(table.stdout.contains("dma-bangalore-gpu-1"), table.stdout)
        XCTAssertTrue(table.stdout.contains("local"), table.stdout)

        let cluster = try aios(["describe", "cluster", "dma-bangalore-gpu-1"], server: server)
        XCTAssertEqual(cluster.status, 0, cluster.stderr)
        XCTAssertTrue(cluster.stdout.contains("Driver:      simulated"), cluster.stdout)
        XCTAssertTrue(cluster.stdout.contains("blr-extra"), cluster.stdout)
        let local = try aios(["describe", "cluster", "local"], server: server)
        XCTAssertTrue(local.stdout.contains("Driver:      host (this machine"), local.stdout)

        let yamlOut = try aios(["get", "components", "-o", "yaml"], server: server)
        XCTAssertEqual(yamlOut.status, 0, yamlOut.stderr)
        XCTAssertTrue(yamlOut.stdout.contains("componentURI: model.mistral7b-chat:0.1.0-stable"), yamlOut.stdout)

        let described = try aios(["describe", "block", "mistral-chat-88"], server: server)
        XCTAssertEqual(described.status, 0, described.stderr)
        // No collector reported for the example cluster's nodes, so the block failed with a report saying so.
        XCTAssertTrue(described.stdout.contains("Phase:       Failed"), described.stdout)
        XCTAssertTrue(described.stdout.contains("no node has reported metrics"), described.stdout)
        XCTAssertTrue(described.stdout.contains("resourceAllocator: policy.resourceAllocator.gpu-node-selector:v0.0.1"), described.stdout)
        XCTAssertTrue(described.stdout.contains("Created"), described.stdout)

        let bad = directory.appendingPathComponent("bad.json")
        try #"{"blockComponentURI": "model.mistral7b-chat:0.1.0-stable", "minInstances": 2, "maxInstances": 1}"#
            .write(to: bad, atomically: true, encoding: .utf8)
        let rejected = try aios(["apply", "-f", bad.path], server: server)
        XCTAssertNotEqual(rejected.status, 0)
        XCTAssertTrue(rejected.stderr.contains("maxInstances"), rejected.stderr)

        let deleted = try aios(["delete", "block", "mistral-small"], server: server)
        XCTAssertEqual(deleted.status, 0, deleted.stderr)
        let gone = try await platform.get("/api/blocks/mistral-small")
        XCTAssertEqual(gone.status, 404)

        let missing = try aios(["describe", "block", "nope"], server: server)
        XCTAssertNotEqual(missing.status, 0)
        XCTAssertTrue(missing.stderr.contains("does not exist"), missing.stderr)

        let unreachable = try aios(["get", "blocks"], server: "http://127.0.0.1:1")
        XCTAssertNotEqual(unreachable.status, 0)
        XCTAssertTrue(unreachable.stderr.contains("cannot reach aios"), unreachable.stderr)

        // Tokens from the CLI: issued once, listed without secrets, used with --token, revoked.
        let issued = try aios(["token", "create", "reader", "--scope", "read"], server: server)
        XCTAssertEqual(issued.status, 0, issued.stderr)
        let token = issued.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertTrue(token.hasPrefix("aios_"), issued.stdout)
        let listed = try aios(["token", "list"], server: server)
        XCTAssertTrue(listed.stdout.contains("reader") && !listed.stdout.contains(token), listed.stdout)
        let id = String(token.split(separator: "_")[1])
        let asReader = try run([PlatformProcess.executable.path, "get", "blocks", "--server", server, "--token", token])
        XCTAssertEqual(asReader.status, 0, asReader.stderr)
        let refused = try run([PlatformProcess.executable.path, "delete", "block", "mistral-chat-88", "--server", server, "--token", token])
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.stderr.contains("deploy scope"), refused.stderr)
        XCTAssertEqual(try aios(["token", "revoke", id], server: server).status, 0)
        let revoked = try run([PlatformProcess.executable.path, "get", "blocks", "--server", server, "--token", token])
        XCTAssertNotEqual(revoked.status, 0)
        XCTAssertTrue(revoked.stderr.contains("not valid"), revoked.stderr)
    }
}
