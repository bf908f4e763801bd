import AIOSModel
import AIOSVDAG
import XCTest

/// Builders for vDAG spec documents, so each test states only what it is about.
enum VDAGDoc {
    /// Where the values sit in ``envelope(_:)``.
    static let values = "body.spec.values"

    /// A block node with a manual assignment and an optional IOMap.
    static func node(_ label: String, block: String? = nil, inputs: [String]? = nil, outputs: [String]? = nil,
                     extra: [String: JSONValue] = [:]) -> JSONValue {
        var values: [String: JSONValue] = ["nodeLabel": .string(label), "nodeType": "block",
                                           "manualBlockId": .string(block ?? "blk-\(label)")]
        values.merge(extra) { _, new in new }
        var node: [String: JSONValue] = ["spec": ["values": .object(values)]]
        if inputs != nil || outputs != nil {
            node["IOMap"] = [.object([
                "inputs": .array((inputs ?? []).map { .string($0) }),
                "outputs": .array((outputs ?? []).map { .string($0) }),
            ])]
        }
        return .object(node)
    }

    /// A connection `child ← parents`, each parent optionally with its `outputNames`.
    static func connection(_ child: String, _ parents: [String], outputNames: [String: [String]] = [:]) -> JSONValue {
        .object([
            "nodeLabel": .string(child),
            "inputs": .array(parents.map { parent in
                var input: [String: JSONValue] = ["nodeLabel": .string(parent)]
                if let names = outputNames[parent] { input["outputNames"] = .array(names.map { .string($0) }) }
                return .object(input)
            }),
        ])
    }

    /// A spec's values: name, version, the nodes and a graph of the connections plus `graph` extras.
    static func spec(nodes: [JSONValue], connections: [JSONValue], graph: [String: JSONValue] = [:],
                     extra: [String: JSONValue] = [:]) -> [String: JSONValue] {
        var graphObject: [String: JSONValue] = ["connections": .array(connections)]
        graphObject.merge(graph) { _, new in new }
        var values: [String: JSONValue] = [
            "vdagName": "pose-estimator",
            "vdagVersion": ["version": "0.0.1", "release-tag": "stable"],
            "nodes": .array(nodes),
            "graph": .object(graphObject),
        ]
        values.merge(extra) { _, new in new }
        return values
    }

    /// The AIOS envelope around `values`.
    static func envelope(_ values: [String: JSONValue]) -> JSONValue {
        ["header": ["templateUri": "Parser/V1", "parameters": [:]], "body": ["spec": ["values": .object(values)]]]
    }

    static func parse(_ values: [String: JSONValue]) throws(APIError) -> VDAGSpec {
        try VDAGSpec(envelope: SpecEnvelope(document: envelope(values)))
    }

    /// The field errors parsing `values` reports; fails the test when it parses.
    static func errors(_ values: [String: JSONValue], file: StaticString = #filePath, line: UInt = #line) -> [FieldError] {
        do {
            _ = try parse(values)
            XCTFail("expected the spec to be refused", file: file, line: line)
            return []
        } catch {
            XCTAssertEqual(error.code, .validationFailed, file: file, line: line)
            return error.fields
        }
    }
}

/// Asserts that `errors` holds an error at `path` (relative to the values unless it starts with `$`)
/// whose message contains every fragment.
func assertError(_ errors: [FieldError], at path: String, contains fragments: String...,
                 file: StaticString = #filePath, line: UInt = #line) {
    let fullPath = path.hasPrefix("$") ? String(path.dropFirst()) : (path.isEmpty ? VDAGDoc.values : "\(VDAGDoc.values).\(path)")
    let atPath = errors.filter { $0.path == fullPath }
    guard !atPath.isEmpty else {
        XCTFail("no error at \(fullPath); got:\n" + errors.map { "  \($0)" }.joined(separator: "\n"), file: file, line: line)
        return
    }
    let matching = atPath.filter { error in fragments.allSatisfy { error.message.contains($0) } }
    XCTAssertFalse(matching.isEmpty, "no error at \(fullPath) containing \(fragments); got: \(atPath.map(\.message))", file: file, line: line)
}
