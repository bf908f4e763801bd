import AIOSModel
import Foundation
import XCTest

/// Bearer tokens and scopes on every front of a real `aios up`: the HTTP API, the gRPC gateway, a vDAG
/// controller and the OpenAI-compatible routes through the official SDK's `api_key`.
final class AuthTests: EchoPlatformTestCase {
    override class var directoryName: String { "auth" }

    /// Issues a token with the admin token; returns its id and text.
    private func issue(_ name: String, _ scopes: [String], cluster: String? = nil, expiresIn: Double? = nil) async throws -> (id: String, token: String) {
        var body: [String: JSONValue] = ["name": .string(name), "scopes": .array(scopes.map(JSONValue.string))]
        if let cluster { body["clusterId"] = .string(cluster) }
        if let expiresIn { body["expiresInSeconds"] = .number(expiresIn) }
        let reply = try await platform.post("/api/tokens", json: .object(body))
        XCTAssertEqual(reply.status, 201, reply.body.jsonString())
        return (try XCTUnwrap(reply.body["id"]?.stringValue), try XCTUnwrap(reply.body["token"]?.stringValue))
    }

    private func status(_ reply: PlatformProcess.Reply) -> Int { reply.status }

    func testEveryRouteButHealthzNeedsAToken() async throws {
        let none: String?? = .some(nil)
        do { let reply = try await platform.get("/healthz", token: none); XCTAssertEqual(reply.status, 200) }
        for path in ["/api/blocks", "/api/components", "/api/tokens", "/metrics", "/api/blocks/nope", "/no/such/route"] {
            let reply = try await platform.get(path, token: none)
            XCTAssertEqual(reply.status, 401, "\(path): \(reply.body.jsonString())")
            XCTAssertEqual(reply.body["error"]?["code"]?.stringValue, "unauthenticated")
        }
        for path in ["/api/createBlock", "/api/addComponent", "/v1/infer", "/v1/chat/completions", "/api/tokens"] {
            do { let reply = try await platform.post(path, "{}", token: none); XCTAssertEqual(reply.status, 401, path) }
        }
        // A token that is not one, one with a wrong secret, and one for an unknown id: all 401, told apart only in the log.
        let admin = try XCTUnwrap(platform.token)
        let wrongSecret = String(admin.dropLast(4)) + "0000"
        for bad in ["nonsense", wrongSecret, "aios_ffffffffffffffff_" + String(repeating: "a", count: 64)] {
            do { let reply = try await platform.get("/api/blocks", token: .some(bad)); XCTAssertEqual(reply.status, 401, bad) }
        }

        // The admin token file: the token alone on one line, 0600 in a 0700 directory; the database is private too.
        let file = directory.appendingPathComponent("tokens/admin.token")
        XCTAssertEqual(try String(contentsOf: file, encoding: .utf8), admin + "\n")
        XCTAssertEqual(try permissions(file), 0o600)
        XCTAssertEqual(try permissions(file.deletingLastPathComponent()), 0o700)
        XCTAssertEqual(try permissions(directory), 0o700)
        XCTAssertEqual(try permissions(directory.appendingPathComponent("aios.db")), 0o600)
    }

    func testScopesGrantWhatTheySayAndNothingElse() async throws {
        let read = try await issue("reader", ["read"]).token
        let deploy = try await issue("deployer", ["deploy"]).token
        let infer = try await issue("client", ["infer"]).token
        do { let reply = try await platform.post("/api/createCluster", json: Fixtures.gpuCluster); XCTAssertEqual(reply.status, 200) }
        let node = try await issue("gpu-node", ["node"], cluster: "gpu-cluster-1").token

        // read: every GET, nothing else.
        do { let reply = try await platform.get("/api/blocks", token: .some(read)); XCTAssertEqual(reply.status, 200) }
        do { let reply = try await platform.get("/api/components/model.chat:1.0.0-stable", token: .some(read)); XCTAssertEqual(reply.status, 200) }
        let refused = try await platform.post("/api/createBlock", json: Fixtures.block(id: "b"), token: .some(read))
        XCTAssertEqual(refused.status, 403)
        XCTAssertEqual(refused.body["error"]?["code"]?.stringValue, "forbidden")
        do { let reply = try await platform.post("/v1/infer", json: ["block_id": "b", "data": [:]], token: .some(read)); XCTAssertEqual(reply.status, 403) }

        // deploy: blocks and components that run no host command, and reads; no clusters, registries, tokens.
        let imageComponent: JSONValue = [
            "componentId": ["name": "imaged", "version": "1", "releaseTag": "a"], "componentType": "model",
            "containerRegistryInfo": ["containerImage": "registry.local/imaged:1", "componentMode": "aios"],
        ]
        do { let reply = try await platform.post("/api/addComponent", json: Fixtures.envelope(imageComponent), token: .some(deploy)); XCTAssertEqual(reply.status, 200) }
        var hostCommand = Fixtures.chatComponent.objectValue ?? [:]
        hostCommand["componentId"] = ["name": "other", "version": "1", "releaseTag": "a"]
        let hostRefused = try await platform.post("/api/addComponent", json: Fixtures.envelope(.object(hostCommand)), token: .some(deploy))
        XCTAssertEqual(hostRefused.status, 403, hostRefused.body.jsonString())
        XCTAssertTrue(hostRefused.body["error"]?["message"]?.stringValue?.contains("admin") == true, hostRefused.body.jsonString())
        do { let reply = try await platform.post("/api/createBlock", json: Fixtures.envelope(["blockId": "dep", "blockComponentURI": "model.chat:1.0.0-stable",
                                                                                           "minInstances": 1, "maxInstances": 1]), token: .some(deploy)); XCTAssertEqual(reply.status, 200) }
        do { let reply = try await platform.get("/api/blocks/dep", token: .some(deploy)); XCTAssertEqual(reply.status, 200) }
        do { let reply = try await platform.post("/api/createCluster", json: Fixtures.gpuCluster, token: .some(deploy)); XCTAssertEqual(reply.status, 403) }
        do { let reply = try await platform.post("/api/tokens", json: ["name": "x", "scopes": ["admin"]], token: .some(deploy)); XCTAssertEqual(reply.status, 403) }
        do { let reply = try await platform.post("/api/registries", json: ["containerRegistryId": "r", "url": "http://127.0.0.1:1"], token: .some(deploy)); XCTAssertEqual(reply.status, 403) }
        do { let reply = try await platform.post("/api/splits", json: ["model": "m.gguf", "splits": 2, "splitter": ["command": ["sh", "-c", "id"]]],
                                               token: .some(deploy)); XCTAssertEqual(reply.status, 403) }

        // infer: the gateway's routes only; a missing block is 404 after the check, reads are refused.
        try await platform.waitForPhase("dep", "Ready")
        let answer = try await platform.post("/v1/infer", json: ["block_id": "dep", "data": ["text": "hi"]], token: .some(infer))
        XCTAssertEqual(answer.status, 200, answer.body.jsonString())
        do { let reply = try await platform.post("/v1/infer", json: ["block_id": "ghost", "data": [:]], token: .some(infer)); XCTAssertEqual(reply.status, 404) }
        do { let reply = try await platform.get("/api/blocks", token: .some(infer)); XCTAssertEqual(reply.status, 403) }
        do { let reply = try await platform.get("/v1/models", token: .some(infer)); XCTAssertEqual(reply.status, 200) }

        // node: its own cluster's metrics only; never the local node's, whoever asks.
        let metrics = Fixtures.nodeMetrics(cluster: "gpu-cluster-1", node: "node-a", gpus: [(10, 40_000, 48_000)])
        do { let reply = try await platform.post("/api/nodeMetrics", json: metrics, token: .some(node)); XCTAssertEqual(reply.status, 200) }
        do { let reply = try await platform.get("/api/blocks", token: .some(node)); XCTAssertEqual(reply.status, 403) }
        let otherCluster = try await platform.post("/api/nodeMetrics", json: Fixtures.nodeMetrics(cluster: "elsewhere", node: "n"), token: .some(node))
        XCTAssertEqual(otherCluster.status, 403, otherCluster.body.jsonString())
        for token in [node, try XCTUnwrap(platform.token)] {
            let local = try await platform.post("/api/nodeMetrics", json: Fixtures.nodeMetrics(cluster: "local", node: "local", gpus: [(0, 80_000, 80_000)]),
                                                token: .some(token))
            XCTAssertEqual(local.status, 403, local.body.jsonString())
        }
        do { let reply = try await platform.post("/api/nodeMetrics", json: metrics, token: .some(deploy)); XCTAssertEqual(reply.status, 403) }
    }

    func testTokensAreListedWithoutSecretsRevokedAtOnceAndExpire() async throws {
        let (id, token) = try await issue("short-lived", ["read"])
        do { let reply = try await platform.get("/api/blocks", token: .some(token)); XCTAssertEqual(reply.status, 200) }
        let listed = try await platform.get("/api/tokens")
        XCTAssertEqual(listed.status, 200)
        let text = listed.body.jsonString()
        XCTAssertFalse(text.contains(String(token.suffix(64))), "a token's secret is shown: \(text)")
        XCTAssertTrue(listed.body.arrayValue?.contains { $0["id"]?.stringValue == id } == true, text)

        do { let reply = try await platform.delete("/api/tokens/\(id)"); XCTAssertEqual(reply.status, 200) }
        do { let reply = try await platform.get("/api/blocks", token: .some(token)); XCTAssertEqual(reply.status, 401) }
        do { let reply = try await platform.delete("/api/tokens/\(id)"); XCTAssertEqual(reply.status, 404) }
        do { let reply = try await platform.delete("/api/tokens/admin"); XCTAssertEqual(reply.status, 409) }

        let expiring = try await issue("expiring", ["read"], expiresIn: 1).token
        do { let reply = try await platform.get("/api/blocks", token: .some(expiring)); XCTAssertEqual(reply.status, 200) }
        try await Task.sleep(for: .milliseconds(1500))
        do { let reply = try await platform.get("/api/blocks", token: .some(expiring)); XCTAssertEqual(reply.status, 401) }

        let bad = try await platform.post("/api/tokens", json: ["name": "n", "scopes": ["root"], "expiresInSeconds": -1])
        XCTAssertEqual(bad.status, 400)
        XCTAssertEqual(Set(bad.body["error"]?["fields"]?.arrayValue?.compactMap { $0["path"]?.stringValue } ?? []), ["scopes[0]", "expiresInSeconds"])

        // Tokens outlive a restart; the admin token file is kept.
        let survivor = try await issue("survivor", ["read"]).token
        platform.stop()
        platform = try PlatformProcess(dataDirectory: directory)
        do { let reply = try await platform.get("/api/blocks", token: .some(survivor)); XCTAssertEqual(reply.status, 200) }
        do { let reply = try await platform.get("/api/blocks", token: .some(token)); XCTAssertEqual(reply.status, 401) }

        // Every mutation and refusal is in the audit log with the token that made it.
        let audit = try String(contentsOf: directory.appendingPathComponent("audit.log"), encoding: .utf8)
        let entries = audit.split(separator: "\n").compactMap { JSONValue.decodeJSON(Data($0.utf8)) }
        XCTAssertTrue(entries.contains { $0["token"]?.stringValue == "admin" && $0["path"]?.stringValue == "/api/tokens" && $0["status"]?.intValue == 201 },
                      audit)
        XCTAssertTrue(entries.contains { $0["token"]?.stringValue == id && $0["status"]?.intValue == 401 }, audit)
    }

    func testBrowserPagesOfOtherOriginsCannotMutate() async throws {
        let block = Fixtures.block(id: "csrf")
        let crossSite = try await platform.post("/api/createBlock", json: block, headers: [("Sec-Fetch-Site", "cross-site")])
        XCTAssertEqual(crossSite.status, 403, crossSite.body.jsonString())
        let otherOrigin = try await platform.post("/api/createBlock", json: block, headers: [("Origin", "http://evil.example")])
        XCTAssertEqual(otherOrigin.status, 403, otherOrigin.body.jsonString())
        do { let reply = try await platform.get("/api/blocks/csrf"); XCTAssertEqual(reply.status, 404) }
        // The API's own origin, and reads, are fine; no CORS header invites other pages to read.
        let sameOrigin = try await platform.post("/api/createBlock", json: Fixtures.envelope(["blockId": "ok", "blockComponentURI": "model.chat:1.0.0-stable",
                                                                                              "minInstances": 1, "maxInstances": 1]),
                                                 headers: [("Origin", platform.url), ("Sec-Fetch-Site", "same-origin")])
        XCTAssertEqual(sameOrigin.status, 200, sameOrigin.body.jsonString())
    }

    func testGatewayControllerAndOpenAIClientsNeedAnInferToken() async throws {
        let read = try await issue("reader", ["read"]).token
        let infer = try await issue("client", ["infer"]).token
        do { let reply = try await platform.post("/api/createBlock", json: Fixtures.envelope(["blockId": "g", "blockComponentURI": "model.chat:1.0.0-stable",
                                                                                           "minInstances": 1, "maxInstances": 1])); XCTAssertEqual(reply.status, 200) }
        try await platform.waitForPhase("g", "Ready")

        func tutorial(_ token: String?) throws -> Command.Run {
            try Command.run([Command.python, Command.client("tutorial_client.py"), platform.grpcAddress, "g", "--data", #"{"text": "hi"}"#],
                            environment: ["AIOS_TOKEN": token ?? ""])
        }
        // The clients print each call's outcome as a JSON line (the status code on failure).
        let anonymous = try tutorial(nil)
        XCTAssertTrue((anonymous.stdout + anonymous.stderr).contains("UNAUTHENTICATED"), anonymous.stdout + anonymous.stderr)
        let reader = try tutorial(read)
        XCTAssertTrue((reader.stdout + reader.stderr).contains("PERMISSION_DENIED"), reader.stdout + reader.stderr)
        let client = try tutorial(infer)
        XCTAssertEqual(client.status, 0, client.stderr)
        XCTAssertTrue(client.stdout.contains("HI"), client.stdout)

        // A vDAG controller's own gRPC port checks tokens the same way.
        let vdag: JSONValue = Fixtures.envelope([
            "vdagName": "authed", "vdagVersion": ["version": "0.0.1", "release-tag": "stable"], "discoveryTags": ["t"],
            "controller": ["initSettings": ["maxOutputWaitTimeSeconds": 10]],
            "nodes": [["spec": ["values": ["nodeLabel": "only", "nodeType": "block", "manualBlockId": "g"]], "IOMap": []]],
            "graph": ["connections": []],
        ])
        do { let reply = try await platform.post("/api/createvDAG", json: vdag); XCTAssertEqual(reply.status, 200) }
        let created = try await platform.post("/vdag-controller/local", json: [
            "action": "create_controller", "payload": ["vdag_controller_id": "ctl", "vdag_uri": "authed:0.0.1-stable", "config": [:]],
        ])
        let address = try XCTUnwrap(created.body["data"]?["grpc_address"]?.stringValue, created.body.jsonString())
        func controller(_ token: String?) throws -> Command.Run {
            try Command.run([Command.python, Command.client("vdag_client.py"), address, "--data", #"{"text": "hi"}"#],
                            environment: ["AIOS_TOKEN": token ?? ""])
        }
        XCTAssertTrue(try controller(nil).stderr.contains("UNAUTHENTICATED") || (try controller(nil).stdout.contains("UNAUTHENTICATED")))
        let controlled = try controller(infer)
        XCTAssertEqual(controlled.status, 0, controlled.stderr)

        // The OpenAI SDK's api_key is the bearer token.
        func openAI(_ token: String?) throws -> Command.Run {
            try Command.run([Command.python, Command.client("openai_client.py"), "\(platform.url)/v1", "g", "--message", "hello"],
                            environment: ["AIOS_TOKEN": token ?? ""])
        }
        let refusedSDK = try openAI(nil)
        XCTAssertTrue((refusedSDK.stdout + refusedSDK.stderr).contains("401"), refusedSDK.stdout + refusedSDK.stderr)
        let sdk = try openAI(infer)
        XCTAssertEqual(sdk.status, 0, sdk.stderr)
        XCTAssertTrue(sdk.stdout.contains("HELLO"), sdk.stdout)
    }

    private func permissions(_ url: URL) throws -> Int {
        (try FileManager.default.attributesOfItem(atPath: url.path)[.posixPermissions] as? NSNumber)?.intValue ?? -1
    }
}

/// `--auth off` (loopback only) and TLS, each on a platform of its own.
final class AuthModeTests: XCTestCase {
    func testAuthOffIsRefusedOffLoopbackAndServesWithoutTokensOnIt() async throws {
        let directory = temporaryDirectory("auth-off")
        defer { try? FileManager.default.removeItem(at: directory) }
        let refused = try Command.run([PlatformProcess.executable.path, "up", "--data-dir", directory.path, "--auth", "off", "--host", "0.0.0.0",
                                       "--http-port", "0", "--grpc-port", "0"], timeout: 60)
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.stderr.contains("--auth off"), refused.stderr)

        let platform = try PlatformProcess(dataDirectory: directory, arguments: ["--auth", "off"])
        XCTAssertNil(platform.token)
        do { let reply = try await platform.get("/api/blocks"); XCTAssertEqual(reply.status, 200) }
        XCTAssertTrue(platform.log.contains("authentication is OFF"), platform.log)
    }

    func testTLSServesHTTPSAndGRPCWithTheGivenCertificate() async throws {
        let directory = temporaryDirectory("tls")
        defer { try? FileManager.default.removeItem(at: directory) }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let cert = directory.appendingPathComponent("cert.pem").path, key = directory.appendingPathComponent("key.pem").path
        let made = try Command.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "1",
                                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"])
        guard made.status == 0 else { throw XCTSkip("openssl cannot make a test certificate: \(made.stderr)") }
        let platform = try PlatformProcess(dataDirectory: directory.appendingPathComponent("data"), arguments: ["--tls-cert", cert, "--tls-key", key])
        XCTAssertTrue(platform.url.hasPrefix("https://"), platform.url)
        let health = try Command.run(["curl", "-sS", "--cacert", cert, "\(platform.url)/healthz"])
        XCTAssertTrue(health.stdout.contains("ok"), health.stdout + health.stderr)
        let plain = try Command.run(["curl", "-sS", "--max-time", "5", platform.url.replacingOccurrences(of: "https://", with: "http://") + "/healthz"])
        XCTAssertFalse(plain.stdout.contains("\"ok\""), plain.stdout)
        let blocks = try Command.run(["curl", "-sS", "--cacert", cert, "\(platform.url)/api/blocks"], environment: platform.auth)
        XCTAssertEqual(blocks.stdout.trimmingCharacters(in: .whitespacesAndNewlines), "[]", blocks.stdout + blocks.stderr)
        let cli = try Command.run([PlatformProcess.executable.path, "get", "blocks", "--server", platform.url, "--ca-file", cert], environment: platform.auth)
        XCTAssertEqual(cli.status, 0, cli.stderr)
        let untrusted = try Command.run([PlatformProcess.executable.path, "get", "blocks", "--server", platform.url], environment: platform.auth)
        XCTAssertNotEqual(untrusted.status, 0, "the CLI trusted a self-signed certificate it was not given")
        let grpc = try Command.run([Command.python, Command.client("tutorial_client.py"), platform.grpcAddress, "ghost", "--data", "{}",
                                    "--tls-ca", cert], environment: platform.auth)
        XCTAssertTrue((grpc.stdout + grpc.stderr).contains("NOT_FOUND"), grpc.stdout + grpc.stderr)
    }
}
