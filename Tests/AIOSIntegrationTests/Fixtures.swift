import AIOSModel
import Foundation

/// Specs the integration tests submit.
enum Fixtures {
    /// A node metrics push: `gpus` as (utilisation %, free MB, total MB).
    static func nodeMetrics(cluster: String, node: String, load15m: Double = 1, memoryFree: Double = 100_000,
                            gpus: [(util: Double, free: Double, total: Double)] = [], ageSeconds: Double = 0) -> JSONValue {
        var body: [String: JSONValue] = [
            "clusterId": .string(cluster), "nodeId": .string(node),
            "metrics": [
                "vcpu": ["load1m": .number(load15m), "load5m": .number(load15m), "load15m": .number(load15m)],
                "memory": ["freeMem": .number(memoryFree), "usedMem": 1000],
                "gpus": .array(gpus.enumerated().map { index, gpu in
                    ["gpu_id": .string(String(index)), "cudaUtilization": .number(gpu.util), "memUtilization": 0,
                     "freeMem": .number(gpu.free), "usedMem": .number(gpu.total - gpu.free), "totalMem": .number(gpu.total)]
                }),
            ],
        ]
        if ageSeconds > 0 { body["timestamp"] = .number(Date().timeIntervalSince1970 - ageSeconds) }
        return .object(body)
    }

    static let chatComponent: JSONValue = [
        "componentId": ["name": "chat", "version": "1.0.0", "releaseTag": "stable"],
        "componentType": "model",
        "componentMetadata": ["framework": "vllm"],
        "componentInitData": ["model_name": "m"],
        "componentParameters": ["temperature": 0.7],
        "componentInitParametersProtocol": ["temperature": ["type": "number", "min": 0, "max": 2]],
        "policies": ["loadBalancer": ["policyRuleURI": "policy.loadBalancer.roundrobin:v0.0.1"]],
        "runtime": ["type": "process", "command": [.string(PlatformProcess.echoExecutable)], "cwd": "/"],
    ]

    /// An example's `component.json` with relative working directories made absolute, as `aios apply -f` does.
    static func exampleComponent(_ example: String) throws -> JSONValue {
        let directory = PlatformProcess.repositoryRoot.appendingPathComponent("examples/\(example)")
        let data = try Data(contentsOf: directory.appendingPathComponent("component.json"))
        guard let document = JSONValue.decodeJSON(data) else { throw FixtureError(description: "examples/\(example)/component.json is not JSON") }
        return withSpecValues(document) { values in
            func absolute(_ section: JSONValue?) -> JSONValue? {
                guard var object = section?.objectValue else { return section }
                let cwd = object["cwd"]?.stringValue ?? "."
                if !cwd.hasPrefix("/") { object["cwd"] = .string(directory.appendingPathComponent(cwd).standardizedFileURL.path) }
                return .object(object)
            }
            if values["runtime"] != nil { values["runtime"] = absolute(values["runtime"]) }
            if var info = values["containerRegistryInfo"]?.objectValue, info["initContainer"]?["command"] != nil {
                info["initContainer"] = absolute(info["initContainer"])
                values["containerRegistryInfo"] = .object(info)
            }
        }
    }

    /// An example's `block.json`, with `change` applied to its spec values.
    static func exampleBlock(_ example: String, _ change: (inout [String: JSONValue]) -> Void = { _ in }) throws -> JSONValue {
        let url = PlatformProcess.repositoryRoot.appendingPathComponent("examples/\(example)/block.json")
        guard let document = JSONValue.decodeJSON(try Data(contentsOf: url)) else { throw FixtureError(description: "\(url.path) is not JSON") }
        return withSpecValues(document, change)
    }

    /// `document` with `change` applied to `body.spec.values`.
    static func withSpecValues(_ document: JSONValue, _ change: (inout [String: JSONValue]) -> Void) -> JSONValue {
        guard var root = document.objectValue, var body = root["body"]?.objectValue, var spec = body["spec"]?.objectValue,
              var values = spec["values"]?.objectValue else { return document }
        change(&values)
        spec["values"] = .object(values)
        body["spec"] = .object(spec)
        root["body"] = .object(body)
        return .object(root)
    }

    struct FixtureError: Error, CustomStringConvertible {
        var description: String
    }

    static func envelope(_ values: JSONValue, head: String = "header") -> JSONValue {
        [.init(stringLiteral: head): ["templateUri": "Parser/V1", "parameters": [:]], "body": ["spec": ["values": values]]]
    }

    static let gpuCluster: JSONValue = [
        "id": "gpu-cluster-1",
        "regionId": "ap-south-1",
        "clusterMetadata": ["vendor": "dma-bangalore", "name": "gpu-cluster-1"],
        "tags": ["gpu"],
        "reputation": 90,
        "nodes": ["count": 1, "nodeData": [[
            "id": "node-a",
            "vcpus": ["count": 32], "memory": 256000,
            "gpus": ["gpus": [["modelName": "A100", "memory": 40960], ["modelName": "A100", "memory": 40960]]],
        ]]],
    ]

    /// A block of the chat component pinned to one cluster, asking for `gpus` GPUs per instance.
    static func placedBlock(id: String, clusterId: String, gpus: Int, minGPUFreeMemory: Double? = nil) -> JSONValue {
        var resources: [String: JSONValue] = ["gpus": .number(Double(gpus)), "max_gpu_utilization": 0.9]
        if let minGPUFreeMemory { resources["min_gpu_free_memory"] = .number(minGPUFreeMemory) }
        return [
            "blockId": .string(id), "blockComponentURI": "model.chat:1.0.0-stable", "minInstances": 1, "maxInstances": 1,
            "policyRulesSpec": [
                ["values": ["name": "clusterAllocator", "policyRuleURI": "policy.clusterAllocator.pin:v1",
                            "parameters": ["filter": ["clusterQuery": ["variable": "id", "operator": "==", "value": .string(clusterId)]]]]],
                ["values": ["name": "resourceAllocator", "policyRuleURI": "policy.resourceAllocator.gpu:v1", "parameters": .object(resources)]],
            ],
        ]
    }

    static func block(id: String?, min: Int = 1, max: Int = 2, parameters: JSONValue = [:]) -> JSONValue {
        var values: [String: JSONValue] = [
            "blockComponentURI": "model.chat:1.0.0-stable",
            "minInstances": .number(Double(min)), "maxInstances": .number(Double(max)),
            "parameters": parameters,
            "policyRulesSpec": [["values": [
                "name": "clusterAllocator", "policyRuleURI": "policy.clusterAllocator.default:v1",
                "parameters": ["filter": ["clusterQuery": ["logicalOperator": "AND", "conditions": [
                    ["variable": "gpus.count", "operator": ">=", "value": 1],
                ]]]],
            ]]],
        ]
        if let id { values["blockId"] = .string(id) }
        return envelope(.object(values), head: "head")
    }
}
