import AIOSKubernetes
import AIOSModel
import AIOSRuntime
import Foundation
import Logging
import XCTest

/// Blocks on a Kubernetes cluster through a real kube-apiserver named by `AIOS_TEST_KUBECONFIG` (skipped, saying
/// so, without one: CI has none). `FakeKubelet` plays the nodes (there is no kubelet); everything else is real:
/// `aios up`, its Kubernetes driver and discovery, the API server, the instances' processes and the gateway.
final class KubernetesClusterTests: XCTestCase {
    var kubeconfig: String!
    var namespace: String!
    var kubelet: FakeKubelet!
    var directory: URL!
    var platform: PlatformProcess?
    /// Unique per test: nodes are cluster-wide.
    var prefix: String!

    static let image = "aios-echo:test"

    override func setUp() async throws {
        guard let path = ProcessInfo.processInfo.environment["AIOS_TEST_KUBECONFIG"], !path.isEmpty else {
            print("KubernetesClusterTests skipped: AIOS_TEST_KUBECONFIG is not set (it names the kubeconfig of a test kube-apiserver; see README, Kubernetes clusters)")
            throw XCTSkip("AIOS_TEST_KUBECONFIG is not set: no Kubernetes API server to test against")
        }
        kubeconfig = path
        prefix = "t" + RandomID.make(prefix: "", length: 5)
        namespace = "aios-\(prefix!)"
        directory = temporaryDirectory("kubernetes")
        kubelet = try FakeKubelet(kubeconfig: path, namespace: namespace, images: [Self.image: [PlatformProcess.echoExecutable], "registry.example.com/aios-echo:test": [PlatformProcess.echoExecutable]],
                                  scratch: directory.appendingPathComponent("kubelet"))
        try await kubelet.start()
    }

    override func tearDown() async throws {
        platform?.stop()
        platform = nil
        for path in clusterObjects { try? await kubelet?.client.delete(path) }
        await kubelet?.stop()
        if let directory { try? FileManager.default.removeItem(at: directory) }
    }

    // MARK: Helpers

    func startPlatform() async throws -> PlatformProcess {
        let platform = try PlatformProcess(dataDirectory: directory.appendingPathComponent("data"), arguments: ["--metrics-ttl", "30", "--metrics-interval", "1"])
        self.platform = platform
        return platform
    }

    var clusterSpec: JSONValue { clusterSpec(gpuMetricsURL: nil) }

    /// The kubeconfig the platform uses (the test's own unless a test names a ServiceAccount's).
    var platformKubeconfig: String?

    func clusterSpec(gpuMetricsURL: String?) -> JSONValue {
        var kubernetes: [String: JSONValue] = ["kubeconfig": .string(platformKubeconfig ?? kubeconfig), "namespace": .string(namespace), "nodeLostGraceSeconds": 1]
        if let gpuMetricsURL { kubernetes["gpuMetricsURL"] = .string(gpuMetricsURL) }
        return Fixtures.envelope(["id": "k8s", "clusterMetadata": ["vendor": "test"], "config": ["kubernetes": .object(kubernetes)]])
    }

    /// Cluster-wide objects a test made (RBAC for its ServiceAccount), deleted after it.
    var clusterObjects: [String] = []

    /// A kubeconfig for a ServiceAccount of the test's namespace with exactly the rules of
    /// `deploy/kubernetes/10-rbac.yaml` (its Role in the namespace, its ClusterRole under a name of the test's):
    /// what the platform does must work with them.
    func serviceAccountKubeconfig() async throws -> String {
        let client = kubelet.client, namespace = self.namespace!
        let rbac = PlatformProcess.repositoryRoot.appendingPathComponent("deploy/kubernetes/10-rbac.yaml")
        let documents = try DocumentDecoder.decodeAll(try Data(contentsOf: rbac), contentType: "application/yaml")
        let clusterRole = "aios-node-reader-\(prefix!)"
        for document in documents {
            var object = document.objectValue ?? [:]
            var metadata = object["metadata"]?.objectValue ?? [:]
            switch object["kind"]?.stringValue {
            case "Role":
                metadata["namespace"] = .string(namespace)
                object["metadata"] = .object(metadata)
                try await client.create("/apis/rbac.authorization.k8s.io/v1/namespaces/\(namespace)/roles", .object(object))
            case "ClusterRole":
                metadata["name"] = .string(clusterRole)
                object["metadata"] = .object(metadata)
                try await client.create("/apis/rbac.authorization.k8s.io/v1/clusterroles", .object(object))
                clusterObjects.append("/apis/rbac.authorization.k8s.io/v1/clusterroles/\(clusterRole)")
            default:
                continue
            }
        }
        try await client.create("/api/v1/namespaces/\(namespace)/serviceaccounts", ["apiVersion": "v1", "kind": "ServiceAccount", "metadata": ["name": "aios"]])
        let subject: JSONValue = [["kind": "ServiceAccount", "name": "aios", "namespace": .string(namespace)]]
        try await client.create("/apis/rbac.authorization.k8s.io/v1/namespaces/\(namespace)/rolebindings", [
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": ["name": "aios"],
            "roleRef": ["apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "aios"], "subjects": subject,
        ])
        try await client.create("/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", [
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": ["name": .string(clusterRole)],
            "roleRef": ["apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": .string(clusterRole)], "subjects": subject,
        ])
        clusterObjects.append("/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/\(clusterRole)")
        let request = try await client.create("/api/v1/namespaces/\(namespace)/serviceaccounts/aios/token", [
            "apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": ["expirationSeconds": 3600],
        ])
        let token = try XCTUnwrap(request["status"]?["token"]?.stringValue, request.jsonString())
        let admin = try KubeConfig.load(path: kubeconfig).settings(context: nil)
        guard case .certificateAuthority(let pem) = admin.trust else { throw XCTSkip("the test kubeconfig has no CA to reuse") }
        let file = directory.appendingPathComponent("sa-kubeconfig")
        let config = [
            "apiVersion: v1", "kind: Config", "current-context: sa",
            "clusters:", "- name: test", "  cluster:", "    server: \(admin.server.absoluteString)",
            "    certificate-authority-data: \(Data(pem.utf8).base64EncodedString())",
            "users:", "- name: aios", "  user:", "    token: \(token)",
            "contexts:", "- name: sa", "  context:", "    cluster: test", "    user: aios", "    namespace: \(namespace)",
        ].joined(separator: "\n")
        try config.write(to: file, atomically: true, encoding: .utf8)
        return file.path
    }

    /// A DCGM exporter's page, served by Python's `http.server` (no GPUs here to export): its URL.
    func dcgmExporter(_ text: String) throws -> (url: String, process: Process) {
        let served = directory.appendingPathComponent("dcgm")
        try FileManager.default.createDirectory(at: served, withIntermediateDirectories: true)
        try text.write(to: served.appendingPathComponent("metrics"), atomically: true, encoding: .utf8)
        let port = try FreePort.find()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-m", "http.server", "--bind", "127.0.0.1", "--directory", served.path, String(port)]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        return ("http://127.0.0.1:\(port)/metrics", process)
    }

    static let component: JSONValue = [
        "componentId": ["name": "kchat", "version": "1.0.0", "releaseTag": "stable"],
        "componentType": "model",
        "containerRegistryInfo": ["containerImage": .string(image)],
        "policies": ["loadBalancer": ["policyRuleURI": "policy.loadBalancer.roundrobin:v0.0.1"]],
    ]

    func block(_ id: String, gpus: Int, selector: [String: String] = [:], min: Int = 1, max: Int = 3, image: String? = nil) -> JSONValue {
        var resources: [String: JSONValue] = ["gpus": .number(Double(gpus)), "cpus": 1, "min_memory_mb": 256]
        if !selector.isEmpty { resources["node_selector"] = .object(selector.mapValues(JSONValue.string)) }
        return Fixtures.envelope([
            "blockId": .string(id), "blockComponentURI": "model.kchat:1.0.0-stable", "minInstances": .number(Double(min)), "maxInstances": .number(Double(max)),
            "blockInitData": ["api_key": "sk-live-123"],
            "policyRulesSpec": [
                ["values": ["name": "clusterAllocator", "policyRuleURI": "policy.clusterAllocator.pin:v1",
                            "parameters": ["filter": ["clusterQuery": ["variable": "id", "operator": "==", "value": "k8s"]]]]],
                ["values": ["name": "resourceAllocator", "policyRuleURI": "policy.resourceAllocator.gpu:v1", "parameters": .object(resources)]],
            ],
        ])
    }

    func nodes(_ platform: PlatformProcess) async throws -> [JSONValue] {
        try await platform.get("/api/clusters/k8s").body["nodes"]?["nodeData"]?.arrayValue ?? []
    }

    func waitFor(_ what: String, timeout: TimeInterval = 30, _ condition: () async throws -> Bool) async throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if try await condition() { return }
            try await Task.sleep(for: .milliseconds(200))
        }
        XCTFail("timed out after \(Int(timeout)) s waiting for \(what)")
        throw PlatformError("timed out waiting for \(what)")
    }

    func podsOfBlock(_ id: String) async throws -> [JSONValue] {
        try await kubelet.pods().filter { $0["metadata"]?["labels"]?["aios.block-id"]?.stringValue == id }
    }

    /// The cluster registered and its two nodes discovered: `a` (2 GPUs, pool=a) and `b` (4 GPUs, pool=b).
    func clusterWithTwoNodes(gpuMetricsURL: String? = nil) async throws -> PlatformProcess {
        try await kubelet.addNode("\(prefix!)-a", gpus: 2, labels: ["pool": "a"])
        try await kubelet.addNode("\(prefix!)-b", gpus: 4, labels: ["pool": "b"])
        let platform = try await startPlatform()
        let created = try await platform.post("/api/createCluster", json: clusterSpec(gpuMetricsURL: gpuMetricsURL))
        XCTAssertEqual(created.status, 200, created.body.jsonString())
        XCTAssertEqual(created.body["result"]?["status"]?["state"]?.stringValue, "Reachable", created.body.jsonString())
        let awaited1 = try await platform.post("/api/addComponent", json: Fixtures.envelope(Self.component)).status
        XCTAssertEqual(awaited1, 200)
        try await waitFor("both nodes discovered") {
            try await self.nodes(platform).filter { $0["id"]?.stringValue?.hasPrefix(self.prefix) == true }.count == 2
        }
        return platform
    }

    // MARK: Tests

    func testDiscoveryFollowsNodesAddedRelabelledAndNotReady() async throws {
        let exporter = try dcgmExporter("""
        DCGM_FI_DEV_GPU_UTIL{gpu="0",Hostname="\(prefix!)-a"} 37
        DCGM_FI_DEV_GPU_UTIL{gpu="1",Hostname="\(prefix!)-a"} 5
        DCGM_FI_DEV_FB_FREE{gpu="0",Hostname="\(prefix!)-a"} 30000
        DCGM_FI_DEV_FB_USED{gpu="0",Hostname="\(prefix!)-a"} 10960
        DCGM_FI_DEV_FB_FREE{gpu="1",Hostname="\(prefix!)-a"} 40960
        DCGM_FI_DEV_FB_USED{gpu="1",Hostname="\(prefix!)-a"} 0

        """)
        defer { exporter.process.terminate() }
        let platform = try await clusterWithTwoNodes(gpuMetricsURL: exporter.url)
        // Node a's GPUs from the exporter; node b has none there, so it is placed on by its allocatable capacity.
        try await waitFor("node a's GPU metrics from the DCGM exporter") {
            let metrics = try await platform.get("/api/clusters/k8s/metrics").body
            return metrics.jsonString().contains("\"cudaUtilization\":37")
        }
        let cluster = try await platform.get("/api/clusters/k8s").body
        XCTAssertEqual(cluster["driver"]?.stringValue, "kubernetes")
        XCTAssertEqual(cluster["config"]?["kubernetes"]?["kubeconfig"]?.stringValue, kubeconfig)
        let discovered = try await nodes(platform)
        let a = try XCTUnwrap(discovered.first { $0["id"]?.stringValue == "\(prefix!)-a" })
        XCTAssertEqual(a["discovered"], true)
        XCTAssertEqual(a["gpus"]?["count"]?.intValue, 2)
        XCTAssertEqual(a["gpus"]?["gpus"]?.arrayValue?.first?["modelName"]?.stringValue, "NVIDIA-A100-SXM4-40GB")
        XCTAssertEqual(a["labels"]?["pool"]?.stringValue, "a")
        XCTAssertNil(a["schedulingProblem"])

        try await kubelet.addNode("\(prefix!)-c", gpus: 1)
        try await waitFor("node c discovered") { try await self.nodes(platform).contains { $0["id"]?.stringValue == "\(self.prefix!)-c" } }
        try await kubelet.label("\(prefix!)-c", "pool", "c")
        try await waitFor("node c's new label") { try await self.nodes(platform).contains { $0["id"]?.stringValue == "\(self.prefix!)-c" && $0["labels"]?["pool"] == "c" } }
        try await kubelet.setReady("\(prefix!)-c", false)
        try await waitFor("node c NotReady") {
            try await self.nodes(platform).first { $0["id"]?.stringValue == "\(self.prefix!)-c" }?["schedulingProblem"]?.stringValue?.hasPrefix("node is NotReady") == true
        }
        try await kubelet.client.delete("/api/v1/nodes/\(prefix!)-c")
        try await waitFor("node c gone") { try await !self.nodes(platform).contains { $0["id"]?.stringValue == "\(self.prefix!)-c" } }
    }

    func testBlockRunsAsPodsOnTheChosenNodesServesScalesAndLeavesNothing() async throws {
        // As the deploy manifests' ServiceAccount: their RBAC rules are enough for all of it.
        platformKubeconfig = try await serviceAccountKubeconfig()
        let platform = try await clusterWithTwoNodes()
        let created = try await platform.post("/api/createBlock", json: block("kb", gpus: 2))
        XCTAssertEqual(created.status, 200, created.body.jsonString())
        let node = try XCTUnwrap(created.body["result"]?["placement"]?["instances"]?.arrayValue?.first?["nodeId"]?.stringValue, created.body.jsonString())
        _ = try await platform.waitForPhase("kb", "Ready", timeout: 60)
        let block = try await platform.get("/api/blocks/kb").body
        XCTAssertTrue(block["placementReport"]?["summary"]?.stringValue?.contains("allocatable capacity minus reservations") == true, block["placementReport"]?.jsonString() ?? "")

        let pods = try await podsOfBlock("kb")
        XCTAssertEqual(pods.count, 1)
        let pod = try XCTUnwrap(pods.first)
        XCTAssertEqual(pod["spec"]?["nodeName"]?.stringValue, node, "the platform is the scheduler")
        let container = pod["spec"]?["containers"]?.arrayValue?.first
        XCTAssertEqual(container?["image"]?.stringValue, Self.image)
        XCTAssertEqual(container?["resources"]?["limits"]?["nvidia.com/gpu"]?.stringValue, "2")
        XCTAssertEqual(container?["resources"]?["limits"]?["cpu"]?.stringValue, "1", "1000m as the API server writes it")
        XCTAssertEqual(container?["volumeMounts"]?.arrayValue?.first?["mountPath"]?.stringValue, "/etc/aios")
        XCTAssertEqual(container?["volumeMounts"]?.arrayValue?.first?["readOnly"], true)
        let env = Dictionary(uniqueKeysWithValues: (container?["env"]?.arrayValue ?? []).compactMap { entry in
            entry["name"]?.stringValue.map { ($0, entry["value"]?.stringValue ?? "") }
        })
        XCTAssertEqual(env["AIOS_BLOCK_ID"], "kb")
        XCTAssertEqual(env["AIOS_BLOCK_FILE"], "/etc/aios/block.json")
        XCTAssertNil(env["CUDA_VISIBLE_DEVICES"])
        // The block has a secret (api_key): its file is a Secret, not a ConfigMap.
        XCTAssertNotNil(pod["spec"]?["volumes"]?.arrayValue?.first?["secret"], pod.jsonString())
        XCTAssertEqual(pod["metadata"]?["labels"]?["aios.instance-id"]?.stringValue, block["instances"]?.arrayValue?.first?["instanceId"]?.stringValue)

        let reply = try await GatewayClient.with(platform) { gateway in await gateway.infer(block: "kb", data: ["text": "hello pods"]) }
        XCTAssertEqual(reply.data?["text"]?.stringValue, "HELLO PODS", "\(reply)")

        let logs = try await platform.get("/api/blocks/kb/logs").body
        XCTAssertTrue(logs.jsonString().contains("aios: pod") || logs.jsonString().contains("listening"), logs.jsonString())

        // Three instances of 2 GPUs: node a (2 GPUs) takes one, node b (4 GPUs) two.
        let scaled = try await platform.post("/api/executeMgmtCommand", json: ["blockId": "kb", "service": "executor", "mgmtCommand": "scale", "mgmtData": ["instances": 3]])
        XCTAssertEqual(scaled.status, 200, scaled.body.jsonString())
        try await waitFor("three pods running", timeout: 60) {
            try await self.podsOfBlock("kb").filter { $0["status"]?["phase"]?.stringValue == "Running" }.count == 3
        }
        let awaited2 = try await podsOfBlock("kb").compactMap { $0["spec"]?["nodeName"]?.stringValue }.sorted()
        XCTAssertEqual(awaited2, ["\(prefix!)-a", "\(prefix!)-b", "\(prefix!)-b"])

        let removed = try await platform.post("/api/removeBlock", json: ["blockId": "kb"])
        XCTAssertEqual(removed.status, 200, removed.body.jsonString())
        try await waitFor("nothing left in the namespace") {
            let left = try await self.kubelet.names("pods") + self.kubelet.names("configmaps") + self.kubelet.names("secrets")
            return left.filter { $0.hasPrefix("aios-") }.isEmpty
        }
    }

    func testANodeThatTurnsNotReadyHasItsInstancesPlacedElsewhere() async throws {
        let platform = try await clusterWithTwoNodes()
        let awaited3 = try await platform.post("/api/createBlock", json: block("moving", gpus: 1, selector: [:])).status
        XCTAssertEqual(awaited3, 200)
        _ = try await platform.waitForPhase("moving", "Ready", timeout: 60)
        let first = try await platform.get("/api/blocks/moving").body["placement"]?["instances"]?.arrayValue?.first?["nodeId"]?.stringValue
        let node = try XCTUnwrap(first)
        try await kubelet.setReady(node, false)
        let other = node == "\(prefix!)-a" ? "\(prefix!)-b" : "\(prefix!)-a"
        let moved = try await platform.waitForBlock("moving", timeout: 60) { block in
            block["placement"]?["instances"]?.arrayValue?.map { $0["nodeId"]?.stringValue } == [other] && block["phase"]?.stringValue == "Ready"
        }
        XCTAssertTrue(moved["events"]?.arrayValue?.contains { $0["type"] == "NodeLost" } == true, moved["events"]?.jsonString() ?? "")
        try await waitFor("the old pod gone") { try await self.podsOfBlock("moving").allSatisfy { $0["spec"]?["nodeName"]?.stringValue == other } }
    }

    func testPlacementByLabelsAndAProcessOnlyComponentIsRefused() async throws {
        let platform = try await clusterWithTwoNodes()
        let created = try await platform.post("/api/createBlock", json: block("labelled", gpus: 1, selector: ["pool": "a"]))
        XCTAssertEqual(created.body["result"]?["placement"]?["instances"]?.arrayValue?.first?["nodeId"]?.stringValue, "\(prefix!)-a", created.body.jsonString())
        let big = try await platform.post("/api/createBlock", json: block("big", gpus: 3))
        XCTAssertEqual(big.body["result"]?["placement"]?["instances"]?.arrayValue?.first?["nodeId"]?.stringValue, "\(prefix!)-b", "only node b has 3 GPUs: \(big.body.jsonString())")
        let none = try await platform.post("/api/createBlock", json: block("nowhere", gpus: 1, selector: ["pool": "z"]))
        XCTAssertEqual(none.body["result"]?["phase"]?.stringValue, "Failed", none.body.jsonString())

        let awaited4 = try await platform.post("/api/addComponent", json: Fixtures.envelope(Fixtures.chatComponent)).status
        XCTAssertEqual(awaited4, 200)
        var processBlock = block("process", gpus: 1).objectValue ?? [:]
        processBlock = Fixtures.withSpecValues(.object(processBlock)) { $0["blockComponentURI"] = "model.chat:1.0.0-stable" }.objectValue ?? [:]
        let refused = try await platform.post("/api/createBlock", json: .object(processBlock))
        XCTAssertEqual(refused.status, 400, refused.body.jsonString())
        XCTAssertTrue(refused.body.jsonString().contains("blockComponentURI"), refused.body.jsonString())
        let awaited5 = try await platform.get("/api/blocks/process").status
        XCTAssertEqual(awaited5, 404, "nothing stored")

        // An image of a private registry: the pod pulls it with a Secret the platform made from the registry's credentials.
        let registry = try await platform.post("/api/registries", json: ["containerRegistryId": "private", "url": "https://registry.example.com", "username": "bot", "password": "pull-pass"])
        XCTAssertEqual(registry.status, 200, registry.body.jsonString())
        var privateComponent = Self.component.objectValue ?? [:]
        privateComponent["componentId"] = ["name": "private", "version": "1.0.0", "releaseTag": "stable"]
        privateComponent["containerRegistryInfo"] = ["containerImage": "aios-echo:test", "containerRegistryId": "private"]
        let addedPrivate = try await platform.post("/api/addComponent", json: Fixtures.envelope(.object(privateComponent)))
        XCTAssertEqual(addedPrivate.status, 200, addedPrivate.body.jsonString())
        let privateBlock = Fixtures.withSpecValues(block("private", gpus: 1)) { $0["blockComponentURI"] = "model.private:1.0.0-stable" }
        let createdPrivate = try await platform.post("/api/createBlock", json: privateBlock)
        XCTAssertEqual(createdPrivate.status, 200, createdPrivate.body.jsonString())
        _ = try await platform.waitForPhase("private", "Ready", timeout: 60)
        let privatePods = try await podsOfBlock("private")
        let privatePod = try XCTUnwrap(privatePods.first)
        XCTAssertEqual(privatePod["spec"]?["containers"]?.arrayValue?.first?["image"]?.stringValue, "registry.example.com/aios-echo:test")
        let pullSecret = try XCTUnwrap(privatePod["spec"]?["imagePullSecrets"]?.arrayValue?.first?["name"]?.stringValue, privatePod.jsonString())
        let secret = try await kubelet.client.get("/api/v1/namespaces/\(namespace!)/secrets/\(pullSecret)")
        XCTAssertEqual(secret["type"]?.stringValue, "kubernetes.io/dockerconfigjson")
        let dockerConfig = secret["data"]?[".dockerconfigjson"]?.stringValue.flatMap { Data(base64Encoded: $0) }.flatMap { String(data: $0, encoding: .utf8) } ?? ""
        XCTAssertTrue(dockerConfig.contains(Data("bot:pull-pass".utf8).base64EncodedString()), dockerConfig)

        // An image no node can pull: the instance waits, and its events say why.
        var badImage = Self.component.objectValue ?? [:]
        badImage["componentId"] = ["name": "nope", "version": "1.0.0", "releaseTag": "stable"]
        badImage["containerRegistryInfo"] = ["containerImage": "nope:1"]
        let awaited6 = try await platform.post("/api/addComponent", json: Fixtures.envelope(.object(badImage))).status
        XCTAssertEqual(awaited6, 200)
        let pulling = Fixtures.withSpecValues(block("pulling", gpus: 1)) { $0["blockComponentURI"] = "model.nope:1.0.0-stable" }
        let awaited7 = try await platform.post("/api/createBlock", json: pulling).status
        XCTAssertEqual(awaited7, 200)
        _ = try await platform.waitForBlock("pulling", timeout: 30) { block in
            block["events"]?.arrayValue?.contains { $0["type"] == "InstanceWaiting" && $0["message"]?.stringValue?.contains("ImagePullBackOff") == true } == true
        }
    }

    func testRestartAdoptsRecordedPodsAndDeletesOthers() async throws {
        let platform = try await clusterWithTwoNodes()
        let awaited8 = try await platform.post("/api/createBlock", json: block("kept", gpus: 1)).status
        XCTAssertEqual(awaited8, 200)
        _ = try await platform.waitForPhase("kept", "Ready", timeout: 60)
        let before = try await podsOfBlock("kept").compactMap { $0["metadata"]?["name"]?.stringValue }
        XCTAssertEqual(before.count, 1)
        // And one whose image is still being pulled (it never runs here): adopted too, not pulled from scratch again.
        var pulling = Self.component.objectValue ?? [:]
        pulling["componentId"] = ["name": "slowpull", "version": "1.0.0", "releaseTag": "stable"]
        pulling["containerRegistryInfo"] = ["containerImage": "huge-model:1"]
        let addedPulling = try await platform.post("/api/addComponent", json: Fixtures.envelope(.object(pulling)))
        XCTAssertEqual(addedPulling.status, 200)
        let slow = Fixtures.withSpecValues(block("slow", gpus: 1)) { $0["blockComponentURI"] = "model.slowpull:1.0.0-stable" }
        let createdSlow = try await platform.post("/api/createBlock", json: slow)
        XCTAssertEqual(createdSlow.status, 200, createdSlow.body.jsonString())
        _ = try await platform.waitForBlock("slow", timeout: 30) { block in
            block["instances"]?.arrayValue?.first?["runtimeName"]?.stringValue != nil
                && block["events"]?.arrayValue?.contains { $0["type"] == "InstanceWaiting" } == true
        }
        let slowBefore = try await podsOfBlock("slow").compactMap { $0["metadata"]?["name"]?.stringValue }
        XCTAssertEqual(slowBefore.count, 1)
        let keptPods = try await podsOfBlock("kept")
        let platformLabel = try XCTUnwrap(keptPods.first?["metadata"]?["labels"]?["aios.platform"]?.stringValue)
        XCTAssertEqual(platform.stop(), 0)
        self.platform = nil
        let awaited9 = try await podsOfBlock("kept").compactMap { $0["metadata"]?["name"]?.stringValue }
        XCTAssertEqual(awaited9, before, "pods outlive aios up")

        // A pod of this platform that no record names (its instance was removed while aios was down).
        try await kubelet.client.create("/api/v1/namespaces/\(namespace!)/pods", [
            "apiVersion": "v1", "kind": "Pod",
            "metadata": ["name": "aios-gone-inst-zzzzzz-x1", "labels": ["aios.platform": .string(platformLabel), "aios.block-id": "gone", "aios.instance-id": "inst-zzzzzz"]],
            "spec": ["nodeName": .string("\(prefix!)-a"), "containers": [["name": "instance", "image": .string(Self.image)]]],
        ])
        let restarted = try await startPlatform()
        _ = try await restarted.waitForPhase("kept", "Ready", timeout: 60)
        try await waitFor("the unrecorded pod deleted") { try await !self.kubelet.names("pods").contains("aios-gone-inst-zzzzzz-x1") }
        let awaited10 = try await podsOfBlock("kept").compactMap { $0["metadata"]?["name"]?.stringValue }
        XCTAssertEqual(awaited10, before, "the recorded pod was adopted, not replaced")
        let slowAfter = try await podsOfBlock("slow").compactMap { $0["metadata"]?["name"]?.stringValue }
        XCTAssertEqual(slowAfter, slowBefore, "the pod still pulling its image was adopted, not replaced")
        let reply = try await GatewayClient.with(restarted) { gateway in await gateway.infer(block: "kept", data: ["text": "still here"]) }
        XCTAssertEqual(reply.data?["text"]?.stringValue, "STILL HERE", "\(reply)")
    }

    /// A TCP forwarder to the API server that the test can cut and restore (the cluster unreachable, then back).
    static let forwarder = """
    import socket, sys, threading
    listen = socket.socket(); listen.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listen.bind(("127.0.0.1", int(sys.argv[1]))); listen.listen(64)
    target = (sys.argv[2], int(sys.argv[3]))
    def pipe(a, b):
        try:
            while True:
                data = a.recv(65536)
                if not data: break
                b.sendall(data)
        except OSError: pass
        finally:
            for s in (a, b):
                try: s.close()
                except OSError: pass
    while True:
        client, _ = listen.accept()
        try: upstream = socket.create_connection(target)
        except OSError: client.close(); continue
        threading.Thread(target=pipe, args=(client, upstream), daemon=True).start()
        threading.Thread(target=pipe, args=(upstream, client), daemon=True).start()
    """

    func startForwarder(port: Int, to server: URL) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", Self.forwarder, String(port), server.host ?? "127.0.0.1", String(server.port ?? 443)]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        return process
    }

    func stopForwarder(_ process: Process) async throws {
        kill(process.processIdentifier, SIGKILL)
        for _ in 0..<100 where process.isRunning { try await Task.sleep(for: .milliseconds(50)) }
    }

    func testWhatWasRemovedWhileTheClusterWasUnreachableIsDeletedWhenItIsBack() async throws {
        let admin = try KubeConfig.load(path: kubeconfig).settings(context: nil)
        guard case .certificateAuthority(let pem) = admin.trust, case .token(let token) = admin.credential else {
            throw XCTSkip("this test needs a kubeconfig with a CA and a token")
        }
        let port = try FreePort.find()
        var forwarder = try startForwarder(port: port, to: admin.server)
        defer { kill(forwarder.processIdentifier, SIGKILL) }
        let viaForwarder = directory.appendingPathComponent("forwarded-kubeconfig")
        try [
            "apiVersion: v1", "kind: Config", "current-context: fwd",
            "clusters:", "- name: fwd", "  cluster:", "    server: https://127.0.0.1:\(port)",
            "    certificate-authority-data: \(Data(pem.utf8).base64EncodedString())",
            "users:", "- name: fwd", "  user:", "    token: \(token)",
            "contexts:", "- name: fwd", "  context:", "    cluster: fwd", "    user: fwd",
        ].joined(separator: "\n").write(to: viaForwarder, atomically: true, encoding: .utf8)
        platformKubeconfig = viaForwarder.path
        let platform = try await clusterWithTwoNodes()
        let created = try await platform.post("/api/createBlock", json: block("cut", gpus: 1))
        XCTAssertEqual(created.status, 200, created.body.jsonString())
        _ = try await platform.waitForPhase("cut", "Ready", timeout: 60)

        try await stopForwarder(forwarder)
        try await waitFor("the cluster unreachable", timeout: 60) {
            try await platform.get("/api/clusters/k8s").body["status"]?["state"]?.stringValue == "Unreachable"
        }
        let removed = try await platform.post("/api/removeBlock", json: ["blockId": "cut"])
        XCTAssertEqual(removed.status, 200, removed.body.jsonString())
        let left = try await podsOfBlock("cut")
        XCTAssertFalse(left.isEmpty, "the pod could not be deleted while the API was unreachable")

        forwarder = try startForwarder(port: port, to: admin.server)
        try await waitFor("the cluster reachable again", timeout: 60) {
            try await platform.get("/api/clusters/k8s").body["status"]?["state"]?.stringValue == "Reachable"
        }
        try await waitFor("the removed block's objects deleted", timeout: 60) {
            let names = try await self.kubelet.names("pods") + self.kubelet.names("configmaps") + self.kubelet.names("secrets")
            return !names.contains { $0.hasPrefix("aios-cut-") }
        }
    }

    func testAnUnreachableServerIsCreatedAndReportedUnreachable() async throws {
        let platform = try await startPlatform()
        let created = try await platform.post("/api/createCluster", json: Fixtures.envelope([
            "id": "down", "config": ["kubernetes": ["server": "https://127.0.0.1:9", "token": "secret-token-value", "insecureSkipTLSVerify": true]],
        ]))
        XCTAssertEqual(created.status, 200, created.body.jsonString())
        XCTAssertEqual(created.body["result"]?["status"]?["state"]?.stringValue, "Unreachable", created.body.jsonString())
        XCTAssertTrue(created.body["result"]?["status"]?["message"]?.stringValue?.contains("cannot reach") == true, created.body.jsonString())
        let cluster = try await platform.get("/api/clusters/down").body
        XCTAssertEqual(cluster["status"]?["state"]?.stringValue, "Unreachable")
        XCTAssertEqual(cluster["config"]?["kubernetes"]?["token"]?.stringValue, "***", "the token is never shown")
        // The registry and its write-ahead log: a fresh write sits in the log while the platform runs.
        for file in ["aios.db", "aios.db-wal"] {
            guard let stored = FileManager.default.contents(atPath: directory.appendingPathComponent("data/\(file)").path) else { continue }
            XCTAssertNil(stored.range(of: Data("secret-token-value".utf8)), "the token is sealed at rest (\(file))")
        }
        XCTAssertNotNil(FileManager.default.contents(atPath: directory.appendingPathComponent("data/aios.db").path))
    }

    func testAWatchThatExpiredListsAgain() async throws {
        var settings = try KubeConfig.load(path: kubeconfig).settings(context: nil)
        settings.namespace = namespace
        let client = try KubernetesClient(settings: settings, logger: Logger(label: "test"))
        defer { Task { await client.shutdown() } }
        try await kubelet.addNode("\(prefix!)-w", gpus: 1)
        // An API server answers old versions from its watch cache for a while (75 s at least): writes, until a
        // watch from version 1 is refused as expired (an ERROR event or HTTP 410).
        try await waitFor("version 1 to expire from the API server's watch cache", timeout: 240) {
            for round in 0..<30 { try await self.kubelet.label("\(self.prefix!)-w", "round", String(round)) }
            do {
                for try await event in client.watch("/api/v1/nodes", resourceVersion: "1", timeoutSeconds: 1) {
                    if event.error?.isGone == true { return true }
                    break
                }
            } catch let error as KubernetesError where error.isGone {
                return true
            }
            try await Task.sleep(for: .seconds(5))
            return false
        }
        let seen = NodesSeen()
        let discovery = NodeDiscovery(client: client, resumeFrom: "1", logger: Logger(label: "test"),
                                      onNodes: { nodes in await seen.set(nodes.map(\.name)) }, onReachability: { _ in })
        await discovery.start()
        try await waitFor("the nodes listed after the 410") { await seen.names.contains("\(self.prefix!)-w") }
        let expired = await discovery.expiredWatches
        XCTAssertEqual(expired, 1, "the watch from version 1 expired once, then discovery listed and watched from the list's version")
        let lists = await discovery.lists
        XCTAssertEqual(lists, 1)
        // And it goes on watching from there: a new label arrives.
        try await kubelet.label("\(prefix!)-w", "after", "410")
        try await waitFor("a change after the re-list") {
            await discovery.current.first { $0.name == "\(self.prefix!)-w" }?.labels["after"] == "410"
        }
        await discovery.stop()
    }

    func testDeployManifestsApplyWithServerDryRun() async throws {
        // The manifests' own namespace must exist for a server-side dry run of what goes in it.
        do {
            try await kubelet.client.create("/api/v1/namespaces", ["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": "aios"]])
        } catch let error as KubernetesError where error.isConflict {}
        let directory = PlatformProcess.repositoryRoot.appendingPathComponent("deploy/kubernetes")
        var applied = 0
        for file in try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted() where file.hasSuffix(".yaml") {
            let documents = try DocumentDecoder.decodeAll(try Data(contentsOf: directory.appendingPathComponent(file)), contentType: "application/yaml")
            for document in documents {
                let kind = document["kind"]?.stringValue ?? "", apiVersion = document["apiVersion"]?.stringValue ?? ""
                let plural = kind.lowercased() + (kind.hasSuffix("s") ? "es" : "s")
                let base = apiVersion == "v1" ? "/api/v1" : "/apis/\(apiVersion)"
                let namespace = document["metadata"]?["namespace"]?.stringValue
                let path = base + (namespace.map { "/namespaces/\($0)" } ?? "") + "/\(plural)"
                do {
                    try await kubelet.client.create(path, document, query: ["dryRun": "All", "fieldValidation": "Strict"])
                } catch let error as KubernetesError where error.isConflict {
                    // Exists already (the namespace): validated all the same.
                }
                applied += 1
            }
        }
        XCTAssertGreaterThanOrEqual(applied, 9)
        if let kubectl = ProcessInfo.processInfo.environment["AIOS_TEST_KUBECTL"] {
            let result = try Command.run([kubectl, "--kubeconfig", kubeconfig, "apply", "--dry-run=server", "-f", directory.path])
            XCTAssertEqual(result.status, 0, result.stdout + result.stderr)
        }
    }
}

actor NodesSeen {
    var names: [String] = []
    func set(_ names: [String]) { self.names = names }
}
