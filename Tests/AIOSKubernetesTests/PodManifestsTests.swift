import AIOSKubernetes
import AIOSModel
import AIOSRuntime
import Foundation
import XCTest

/// The objects an instance is made of, against golden JSON in `Golden/` (run with `AIOS_UPDATE_GOLDEN=1` to
/// rewrite them after a deliberate change, and review the diff).
final class PodManifestsTests: XCTestCase {
    let manifests = PodManifests(namespace: "aios", platformId: "0123456789ab")

    func launch(gpus: [String] = ["0", "1"], cpus: Double? = 2.5, memoryMB: Double? = 8192) -> InstanceLaunch {
        InstanceLaunch(
            blockId: "chat", instanceId: "inst-abc123", clusterId: "gpu-east", nodeId: "node-a", gpus: gpus, cpus: cpus, memoryMB: memoryMB,
            environment: [
                "AIOS_BLOCK_ID": "chat", "AIOS_INSTANCE_ID": "inst-abc123", "AIOS_BLOCK_FILE": "/var/lib/aios/blocks/chat/inst-abc123.json",
                "AIOS_CLUSTER_ID": "gpu-east", "AIOS_NODE_ID": "node-a", "CUDA_VISIBLE_DEVICES": "0,1", "NVIDIA_VISIBLE_DEVICES": "0,1",
                "PYTHONUNBUFFERED": "1", "MODEL": "llama",
            ],
            blockFile: "/var/lib/aios/blocks/chat/inst-abc123.json", workload: .image("registry.example.com/chat:1.0"), logPath: "/dev/null")
    }

    func testGPUPodBoundToItsNodeWithLimitsEnvAndBlockFile() throws {
        let pod = manifests.pod(launch(), image: "registry.example.com/chat:1.0", port: 50123, blockFileHoldsSecrets: false, pullSecret: "aios-chat-inst-abc123-pull")
        try assertGolden(pod, "pod-gpu")
        XCTAssertEqual(pod["spec"]?["nodeName"]?.stringValue, "node-a", "the platform is the scheduler")
        XCTAssertEqual(pod["spec"]?["containers"]?.arrayValue?.first?["resources"]?["limits"]?["nvidia.com/gpu"]?.stringValue, "2")
        let env = pod["spec"]?["containers"]?.arrayValue?.first?["env"]?.arrayValue ?? []
        let names = env.compactMap { $0["name"]?.stringValue }
        XCTAssertFalse(names.contains("CUDA_VISIBLE_DEVICES"), "the device plugin sets GPU visibility")
        XCTAssertTrue(env.contains { $0["name"] == "AIOS_BLOCK_FILE" && $0["value"] == "/etc/aios/block.json" })
        XCTAssertTrue(env.contains { $0["name"] == "AIOS_LISTEN" && $0["value"] == "0.0.0.0:50123" })
    }

    func testCPUPodWithSecretBlockFileAndNoPullSecret() throws {
        let pod = manifests.pod(launch(gpus: [], cpus: nil, memoryMB: nil), image: "busybox", port: 50051, blockFileHoldsSecrets: true, pullSecret: nil)
        try assertGolden(pod, "pod-cpu-secret-block-file")
        XCTAssertNil(pod["spec"]?["imagePullSecrets"])
        XCTAssertNil(pod["spec"]?["containers"]?.arrayValue?.first?["resources"]?["limits"])
    }

    func testBlockFileIsAConfigMapOrASecret() throws {
        let key = InstanceKey(blockId: "chat", instanceId: "inst-abc123")
        try assertGolden(manifests.blockFile(key, contents: "{\"blockId\": \"chat\"}", holdsSecrets: false), "block-file-configmap")
        let secret = manifests.blockFile(key, contents: "{\"api_key\": \"s3cret\"}", holdsSecrets: true)
        XCTAssertEqual(secret["kind"]?.stringValue, "Secret")
        XCTAssertEqual(secret["data"]?["block.json"]?.stringValue, Data("{\"api_key\": \"s3cret\"}".utf8).base64EncodedString())
    }

    func testPullSecretHoldsTheRegistryCredentials() throws {
        let secret = manifests.pullSecret(InstanceKey(blockId: "chat", instanceId: "inst-abc123"), host: "registry.example.com", username: "bot", password: "pw")
        try assertGolden(secret, "pull-secret")
        let config = try XCTUnwrap(secret["data"]?[".dockerconfigjson"]?.stringValue.flatMap { Data(base64Encoded: $0) })
        let parsed = try JSONParser().parse(config)
        XCTAssertEqual(parsed["auths"]?["registry.example.com"]?["auth"]?.stringValue, Data("bot:pw".utf8).base64EncodedString())
    }

    func testInitProgramJob() throws {
        let job = JobLaunch(name: "init-chat", workload: .image("vllm-deployer:1"), clusterId: "gpu-east",
                            environment: ["BLOCK_ID": "chat", "CLUSTER_ID": "gpu-east", "OPERATING_MODE": "create", "ALLOCATION_DATA": "{}"],
                            logPath: "/dev/null", timeout: 600, grace: 5)
        try assertGolden(manifests.job(job, image: "vllm-deployer:1", hasBlockFile: true), "job-init")
        XCTAssertEqual(manifests.jobName(job), "aios-0123456789ab-init-chat")
        let environment = PodManifests.jobEnvironment(job, hasBlockFile: true)
        XCTAssertEqual(environment["AIOS_BLOCK_FILE"], "/etc/aios/block.json")
        let secret = manifests.jobSecret(job, environment: ["AIOS_INIT_RESULT": "{\"api_key\": \"k\"}"], blockFile: nil)
        XCTAssertEqual(secret["kind"]?.stringValue, "Secret", "an init program's variables (its opened result) are in a Secret, not the Job")
        XCTAssertEqual(secret["metadata"]?["name"]?.stringValue, manifests.jobName(job))
    }

    func testNamesAreDNSLabelsEvenForLongIds() {
        let long = String(repeating: "b", count: 63)
        let name = KubernetesNames.pod(blockId: long, instanceId: "inst-abc123")
        XCTAssertLessThanOrEqual(name.count, 63)
        XCTAssertNotEqual(name, KubernetesNames.pod(blockId: long, instanceId: "inst-abc124"), "a hash keeps long names apart")
        XCTAssertEqual(KubernetesNames.pod(blockId: "chat", instanceId: "inst-abc123"), "aios-chat-inst-abc123")
        XCTAssertEqual(KubernetesNames.label("Init_Block.X"), "init-block-x")
    }

    func assertGolden(_ value: JSONValue, _ name: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden/\(name).json")
        let rendered = value.jsonString(pretty: true) + "\n"
        if ProcessInfo.processInfo.environment["AIOS_UPDATE_GOLDEN"] == "1" {
            try rendered.write(to: url, atomically: true, encoding: .utf8)
            return
        }
        let expected = try String(contentsOf: url, encoding: .utf8)
        XCTAssertEqual(try JSONParser().parse(Data(rendered.utf8)), try JSONParser().parse(Data(expected.utf8)),
                       "\(name).json differs; rendered:\n\(rendered)", file: file, line: line)
    }
}
