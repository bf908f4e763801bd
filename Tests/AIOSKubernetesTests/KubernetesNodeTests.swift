import AIOSKubernetes
import AIOSMetrics
import AIOSModel
import XCTest

/// Node objects as node documents, and quantities.
final class KubernetesNodeTests: XCTestCase {
    func node(ready: String = "True", unschedulable: Bool = false, taints: JSONValue = []) -> JSONValue {
        [
            "metadata": ["name": "gpu-a", "labels": ["nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3", "nvidia.com/gpu.memory": "81559", "pool": "h100"]],
            "spec": ["unschedulable": .bool(unschedulable), "taints": taints],
            "status": [
                "allocatable": ["cpu": "31500m", "memory": "128Gi", "nvidia.com/gpu": "4", "pods": "110"],
                "conditions": [["type": "Ready", "status": .string(ready), "reason": "KubeletNotReady", "message": "PLEG is not healthy"]],
            ],
        ]
    }

    func testAllocatableLabelsAndGPUs() throws {
        let node = try XCTUnwrap(KubernetesNode(object: node()))
        XCTAssertEqual(node.cpus, 31.5)
        XCTAssertEqual(node.memory, 131072)
        XCTAssertEqual(node.gpus, 4)
        XCTAssertNil(node.schedulingProblem)
        let spec = node.spec
        XCTAssertEqual(spec.document["discovered"], true)
        XCTAssertEqual(spec.gpuCount, 4)
        XCTAssertEqual(spec.document["gpus"]?["gpus"]?.arrayValue?.first?["modelName"]?.stringValue, "NVIDIA-H100-80GB-HBM3")
        XCTAssertEqual(spec.document["gpus"]?["memory"]?.numberValue, 4 * 81559)
        XCTAssertEqual(spec.document["labels"]?["pool"]?.stringValue, "h100")
        let metrics = NodeMetrics.allocatable(of: spec)
        XCTAssertEqual(metrics.gpus.map(\.gpuId), ["0", "1", "2", "3"])
        XCTAssertEqual(metrics.gpus.first?.freeMem, 81559)
    }

    func testNotReadyCordonedAndTaintedNodesAreNotPlacedOn() throws {
        XCTAssertEqual(KubernetesNode(object: node(ready: "False"))?.schedulingProblem, "node is NotReady (KubeletNotReady: PLEG is not healthy)")
        XCTAssertEqual(KubernetesNode(object: node(unschedulable: true))?.schedulingProblem, "node is cordoned (spec.unschedulable)")
        let tainted = KubernetesNode(object: node(taints: [["key": "dedicated", "value": "infra", "effect": "NoSchedule"]]))
        XCTAssertEqual(tainted?.schedulingProblem, "node has taints the platform's pods do not tolerate: dedicated=infra:NoSchedule")
        let gpuTaint = KubernetesNode(object: node(taints: [["key": "nvidia.com/gpu", "effect": "NoSchedule"], ["key": "x", "effect": "PreferNoSchedule"]]))
        XCTAssertNil(gpuTaint?.schedulingProblem, "the GPU pool's taint is tolerated, PreferNoSchedule does not block")
        XCTAssertEqual(KubernetesNode(object: node(ready: "False"))?.spec.document["schedulingProblem"]?.stringValue?.hasPrefix("node is NotReady"), true)
    }

    func testQuantities() {
        XCTAssertEqual(KubernetesQuantity.parse("3800m"), 3.8)
        XCTAssertEqual(KubernetesQuantity.parse("2"), 2)
        XCTAssertEqual(KubernetesQuantity.megabytes("16318412Ki") ?? 0, 15935.95, accuracy: 0.01)
        XCTAssertEqual(KubernetesQuantity.megabytes("1G") ?? 0, 953.67, accuracy: 0.01)
        XCTAssertEqual(KubernetesQuantity.parse("1e3"), 1000)
        XCTAssertNil(KubernetesQuantity.parse("lots"))
        // Absurd numbers from a spec or a server are bounded, not a trap.
        XCTAssertEqual(KubernetesQuantity.cpu(1e300), "\(1 << 50)m")
        XCTAssertEqual(KubernetesQuantity.memory(.infinity), "\(1 << 50)Mi")
        XCTAssertEqual(KubernetesQuantity.whole(.nan), 0)
        var huge = node().objectValue ?? [:]
        huge["status"] = ["allocatable": ["nvidia.com/gpu": "1e300", "cpu": "1e300", "memory": "1e300"]]
        XCTAssertEqual(KubernetesNode(object: .object(huge))?.gpus, KubernetesNode.maxGPUs)
        XCTAssertEqual(KubernetesQuantity.cpu(2.5), "2500m")
        XCTAssertEqual(KubernetesQuantity.memory(8192), "8192Mi")
    }

    func testDCGMExporterText() {
        let text = """
        # HELP DCGM_FI_DEV_GPU_UTIL GPU utilization (in %).
        # TYPE DCGM_FI_DEV_GPU_UTIL gauge
        DCGM_FI_DEV_GPU_UTIL{gpu="0",UUID="GPU-1",device="nvidia0",modelName="NVIDIA H100",Hostname="gpu-a"} 37
        DCGM_FI_DEV_GPU_UTIL{gpu="1",UUID="GPU-2",device="nvidia1",modelName="NVIDIA H100",Hostname="gpu-a"} 0
        DCGM_FI_DEV_FB_FREE{gpu="0",Hostname="gpu-a"} 60000
        DCGM_FI_DEV_FB_USED{gpu="0",Hostname="gpu-a"} 21559
        DCGM_FI_DEV_FB_FREE{gpu="1",Hostname="gpu-a"} 81559
        DCGM_FI_DEV_FB_USED{gpu="1",Hostname="gpu-a"} 0
        DCGM_FI_DEV_GPU_UTIL{gpu="0",Hostname="dcgm-pod-x",kubernetes_node="gpu-b"} 99
        """
        let parsed = DCGMMetrics.parse(text)
        XCTAssertEqual(parsed["gpu-a"]?.map(\.gpuId), ["0", "1"])
        XCTAssertEqual(parsed["gpu-a"]?.first?.cudaUtilization, 37)
        XCTAssertEqual(parsed["gpu-a"]?.first?.totalMem, 81559)
        XCTAssertEqual(parsed["gpu-b"]?.first?.cudaUtilization, 99, "a relabelled node name wins over the exporter pod's hostname")
    }
}
