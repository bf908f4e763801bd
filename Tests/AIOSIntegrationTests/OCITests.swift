import AIOSModel
import AIOSRuntime
import Foundation
import XCTest

/// Components as OCI images, the seed's flow for real: the example's image is built and pushed to a local
/// registry (Debian's `docker-registry` with basic auth, started by `scripts/oci/registry.sh`), the registry is
/// registered with its credentials, and the block's instances run as podman containers. Skipped, saying why,
/// only when no engine can start containers on this machine.
final class OCITests: XCTestCase {
    private var directory: URL!
    private var platform: PlatformProcess!
    private var registryPort = 0
    private static let user = "aios", password = "s3cret-registry-pass"

    /// Runs a repository script through the platform's own spawner (`CommandOutput`): `registry.sh up` leaves a
    /// daemon behind in a session of its own, and Foundation's `Process` does not see such a script end.
    private func script(_ path: String, _ arguments: [String] = [], environment: [String: String] = [:], timeout: TimeInterval = 60) async -> (status: Int32, output: String) {
        var command = ["/usr/bin/env"]
        for (key, value) in environment.sorted(by: { $0.key < $1.key }) { command.append("\(key)=\(value)") }
        return await CommandOutput.run(command + [PlatformProcess.repositoryRoot.appendingPathComponent(path).path] + arguments, timeout: timeout)
    }

    override func setUp() async throws {
        let flags = await script("scripts/oci/engine-flags.sh")
        guard flags.status == 0 else {
            let reason = "no OCI engine can start containers here: \(flags.output.trimmingCharacters(in: .whitespacesAndNewlines))"
            print("OCITests skipped: \(reason)")
            throw XCTSkip(reason)
        }
        let base = await script("scripts/oci/base-image.sh", timeout: 900)
        XCTAssertEqual(base.status, 0, "the base image: \(base.output)")
        registryPort = try freePort()
        let registry = await script("scripts/oci/registry.sh", ["up", "--port", String(registryPort), "--user", Self.user, "--password", Self.password])
        XCTAssertEqual(registry.status, 0, "the local registry: \(registry.output)")
        directory = temporaryDirectory("oci")
        platform = try PlatformProcess(dataDirectory: directory)
    }

    override func tearDown() async throws {
        platform?.stop()
        platform = nil
        if registryPort > 0 { _ = await script("scripts/oci/registry.sh", ["down", "--port", String(registryPort)]) }
        if let directory { try? FileManager.default.removeItem(at: directory) }
    }

    private func freePort() throws -> Int {
        let run = try Command.run([Command.python, "-c", "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])"])
        return try XCTUnwrap(Int(run.stdout.trimmingCharacters(in: .whitespacesAndNewlines)))
    }

    @discardableResult
    private func post(_ path: String, _ body: JSONValue, expect status: Int = 200) async throws -> JSONValue {
        let reply = try await platform.post(path, json: body)
        XCTAssertEqual(reply.status, status, "\(path): \(reply.body.jsonString())")
        return reply.body
    }

    private func buildAndPush() async throws -> String {
        let run = await script("examples/python-wordcount/build_and_push_image.sh",
                               environment: ["REGISTRY": "127.0.0.1:\(registryPort)", "REGISTRY_USER": Self.user, "REGISTRY_PASSWORD": Self.password],
                               timeout: 900)
        XCTAssertEqual(run.status, 0, "build_and_push_image.sh: \(run.output.suffix(3000))")
        return run.output.split(separator: "\n").last.map(String.init) ?? ""
    }

    private func exampleSpec(_ file: String, _ change: (inout [String: JSONValue]) -> Void) throws -> JSONValue {
        let data = try Data(contentsOf: PlatformProcess.repositoryRoot.appendingPathComponent("examples/python-wordcount/\(file)"))
        var values = try XCTUnwrap(JSONValue.decodeJSON(data)?["body"]?["spec"]?["values"]?.objectValue)
        change(&values)
        return .object(values)
    }

    private func component(name: String, image: String, registryId: String) throws -> JSONValue {
        try exampleSpec("component-oci.json") { values in
            values["componentId"] = ["name": .string(name), "version": "1.0.0", "releaseTag": "stable"]
            values["containerRegistryInfo"] = ["containerImage": .string(image), "containerRegistryId": .string(registryId)]
        }
    }

    private func block(_ id: String, component: String) throws -> JSONValue {
        try exampleSpec("block-oci.json") { values in
            values["blockId"] = .string(id)
            values["blockComponentURI"] = .string("model.\(component):1.0.0-stable")
        }
    }

    private func containers(block: String) throws -> [String] {
        let run = try Command.run(["podman", "ps", "--all", "--filter", "label=aios.block=\(block)", "--format", "{{.Names}}"])
        return run.stdout.split(separator: "\n").map(String.init)
    }

    func testAnImageFromTheLocalRegistryRunsScalesAndLeavesNoContainerWhenItsBlockIsRemoved() async throws {
        let image = try await buildAndPush()
        XCTAssertTrue(image.hasPrefix("127.0.0.1:\(registryPort)/"), image)

        // The registry's credentials are stored sealed and never shown.
        let stored = try await post("/api/registries", ["containerRegistryId": "local-dev", "url": .string("http://127.0.0.1:\(registryPort)"),
                                                        "username": .string(Self.user), "password": .string(Self.password)])
        XCTAssertEqual(stored["result"]?["hasCredentials"], true)
        XCTAssertEqual(stored["result"]?["tls"], false, "an http:// registry is plain HTTP")
        let shown = try await platform.get("/api/registries/local-dev")
        XCTAssertFalse(shown.body.jsonString().contains(Self.password), "the password is never shown")
        let database = try Data(contentsOf: directory.appendingPathComponent("aios.db"))
            + ((try? Data(contentsOf: directory.appendingPathComponent("aios.db-wal"))) ?? Data())
        XCTAssertNil(database.range(of: Data(Self.password.utf8)), "the password is not stored in clear")

        try await post("/api/addComponent", try component(name: "wordcount-oci", image: image, registryId: "local-dev"))
        // aios apply shows the pull as it happens.
        let spec = directory.appendingPathComponent("block.json")
        try block("wc-oci", component: "wordcount-oci").jsonData().write(to: spec)
        let applied = try Command.run([PlatformProcess.executable.path, "apply", "-f", spec.path, "--server", platform.url], environment: platform.auth, timeout: 300)
        XCTAssertEqual(applied.status, 0, applied.stderr)
        XCTAssertTrue(applied.stdout.contains("ImagePull: pulling") && applied.stdout.contains("ImagePulled:"), applied.stdout)
        let ready = try await platform.waitForPhase("wc-oci", "Ready", timeout: 120)
        let events = ready["events"]?.arrayValue?.compactMap { $0["type"]?.stringValue } ?? []
        XCTAssertTrue(events.contains("ImagePull") && events.contains("ImagePulled"), "pull progress is in the block's events: \(events)")
        XCTAssertEqual(try containers(block: "wc-oci").count, 1)

        // Inference through the gateway reaches the Python block inside its container.
        let infer = try Command.run([PlatformProcess.executable.path, "infer", "wc-oci", "--data", #"{"text": "the cat and the hat"}"#, "--server", platform.url], environment: platform.auth)
        XCTAssertEqual(infer.status, 0, infer.stderr)
        XCTAssertTrue(infer.stdout.contains("\"words\"") && infer.stdout.contains("5"), infer.stdout)
        let logs = try await platform.get("/api/blocks/wc-oci/logs").body.jsonString()
        XCTAssertFalse(logs.isEmpty)

        // Two instances: two containers, both serving.
        try await post("/api/executeMgmtCommand", ["blockId": "wc-oci", "service": "executor", "mgmtCommand": "scale", "mgmtData": ["instances": 2]])
        _ = try await platform.waitForBlock("wc-oci", timeout: 120) { block in
            (block["instances"]?.arrayValue ?? []).filter { $0["healthy"] == true }.count == 2
        }
        XCTAssertEqual(try containers(block: "wc-oci").count, 2)

        try await post("/api/removeBlock", ["blockId": "wc-oci"])
        XCTAssertEqual(try containers(block: "wc-oci"), [], "no container is left once the block is removed")
    }

    func testAMissingImageAndWrongCredentialsFailTheBlockWithTheRegistrysAnswer() async throws {
        let url = JSONValue.string("http://127.0.0.1:\(registryPort)")
        try await post("/api/registries", ["containerRegistryId": "local-dev", "url": url, "username": .string(Self.user), "password": .string(Self.password)])
        try await post("/api/registries", ["containerRegistryId": "wrong-creds", "url": url, "username": .string(Self.user), "password": "not-the-password"])

        try await post("/api/addComponent", try component(name: "missing", image: "127.0.0.1:\(registryPort)/aios/no-such-image:9.9.9", registryId: "local-dev"))
        try await post("/api/createBlock", try block("missing-1", component: "missing"))
        let missing = try await platform.waitForPhase("missing-1", "Failed", timeout: 60)
        let missingReason = missing["reason"]?.stringValue ?? ""
        XCTAssertTrue(missingReason.contains("cannot pull") && (missingReason.contains("unknown") || missingReason.contains("not found")),
                      "the registry's answer: \(missingReason)")

        // An image pulled with a password the registry refuses (a repository name is no secret: 401 whether it exists or not).
        try await post("/api/addComponent", try component(name: "denied", image: "127.0.0.1:\(registryPort)/aios/python-wordcount:1.0.0", registryId: "wrong-creds"))
        try await post("/api/createBlock", try block("denied-1", component: "denied"))
        let denied = try await platform.waitForPhase("denied-1", "Failed", timeout: 60)
        let deniedReason = denied["reason"]?.stringValue ?? ""
        XCTAssertTrue(deniedReason.contains("the registry refused the credentials of wrong-creds"), deniedReason)

        // An unregistered registry id, and a bad registry spec, are named.
        try await post("/api/addComponent", try component(name: "unregistered", image: "aios/x:1", registryId: "nowhere"))
        try await post("/api/createBlock", try block("unregistered-1", component: "unregistered"))
        let unregistered = try await platform.waitForPhase("unregistered-1", "Failed", timeout: 30)
        XCTAssertTrue(unregistered["reason"]?.stringValue?.contains("\"nowhere\" is not a registered registry") ?? false, unregistered.jsonString())
        let bad = try await post("/api/registries", ["containerRegistryId": "x", "url": "http://h", "username": "u"], expect: 400)
        XCTAssertTrue(bad.jsonString().contains("username and password go together"), bad.jsonString())
        for name in ["missing-1", "denied-1", "unregistered-1"] { XCTAssertEqual(try containers(block: name), []) }
    }
}
