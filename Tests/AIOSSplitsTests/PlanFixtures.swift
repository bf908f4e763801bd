import AIOSModel
import Foundation

/// A model plan like the `layer-range` splitter writes, for `layers` split at `cuts`.
enum PlanFixtures {
    static let digest = String(repeating: "ab", count: 32)

    static func block(_ id: String, memoryMB: Double, gpus: Int = 0) -> JSONValue {
        let resources: JSONValue = gpus > 0
            ? ["gpus": .number(Double(gpus)), "min_gpu_free_memory": .number(memoryMB)]
            : ["gpus": 0, "cpus": 0.5, "memory": .number(memoryMB)]
        return [
            "head": ["templateUri": "Parser/V1", "parameters": [:]],
            "body": ["spec": ["values": [
                "blockId": .string(id), "blockComponentURI": "model.smollm2-split:0.1.0-stable",
                "minInstances": 1, "maxInstances": 1, "blockInitData": ["max_sessions": 64],
                "policyRulesSpec": [["values": ["name": "resourceAllocator", "policyRuleURI": "policy.resourceAllocator.gpu:v1",
                                                "parameters": resources]]],
            ]]],
        ]
    }

    static func vdag(_ labels: [(label: String, block: String)]) -> JSONValue {
        let fields: [JSONValue] = ["position", "n", "tokens", "sampling", "layer"]
        let nodes: [JSONValue] = labels.map { node in
            ["spec": ["values": ["nodeLabel": .string(node.label), "nodeType": "block", "manualBlockId": .string(node.block)]],
             "IOMap": [["inputs": .array(fields), "outputs": .array(fields)]]]
        }
        let connections: [JSONValue] = labels.indices.dropFirst().map { index in
            ["nodeLabel": .string(labels[index].label), "inputs": [["nodeLabel": .string(labels[index - 1].label), "outputNames": .array(fields)]]]
        }
        return [
            "vdagName": "smollm2-test", "vdagVersion": ["version": "0.0.1", "release-tag": "stable"],
            "nodes": .array(nodes),
            "graph": [
                "input": [["nodeLabel": .string(labels[0].label), "inputNames": .array(fields)]],
                "output": [["nodeLabel": .string(labels[labels.count - 1].label), "outputNames": .array(fields)]],
                "connections": .array(connections),
            ],
        ]
    }

    static func plan(layers: Int = 30, ranges: [(Int, Int)] = [(0, 10), (10, 20), (20, 30)], memoryMB: Double = 300) -> JSONValue {
        let splits: [JSONValue] = ranges.enumerated().map { index, range in
            [
                "splitId": .string("split-\(index)"), "layers": [.number(Double(range.0)), .number(Double(range.1))],
                "artifact": ["file": .string("split-\(index).gguf"), "sha256": .string(digest), "size": 1000],
                "memoryMB": .number(memoryMB), "block": block("b-\(index)", memoryMB: memoryMB),
            ]
        }
        return [
            "planVersion": 1,
            "model": ["name": "SmolLM2-135M-Instruct", "architecture": "llama", "layers": .number(Double(layers)), "dtype": "Q4_1"],
            "splitter": ["name": "layer-range", "strategy": "even"],
            "splits": .array(splits),
            "vdag": vdag(ranges.indices.map { ("split-\($0)", "b-\($0)") }),
        ]
    }

    /// `value` with the JSON at `path` (keys and indices) replaced.
    static func setting(_ value: JSONValue, _ path: [Any], to new: JSONValue?) -> JSONValue {
        guard let head = path.first else { return new ?? .null }
        let rest = Array(path.dropFirst())
        switch (value, head) {
        case (.object(var object), let key as String):
            if rest.isEmpty, new == nil { object.removeValue(forKey: key) } else { object[key] = setting(object[key] ?? .null, rest, to: new) }
            return .object(object)
        case (.array(var array), let index as Int):
            array[index] = setting(array[index], rest, to: new)
            return .array(array)
        default:
            return value
        }
    }
}
