import AIOSBlock
import AIOSModel
import Foundation

/// A node's pre- or post-processing step, applied to the packet's `data` (JSON text).
///
/// Built in: `identity` (no rule, or a URI naming identity) and a JSON field mapping
/// (`parameters.mapping: {"outKey": "dotted.path.in.input"}` builds a new object from the input's fields; a
/// URI with `mapping` in it, or any rule that gives `parameters.mapping`). Any other URI runs as identity,
/// and the vDAG's creation says so.
public enum VDAGProcessor: Sendable, Equatable {
    case identity
    case fieldMapping([(key: String, path: [String])])

    public static func == (lhs: VDAGProcessor, rhs: VDAGProcessor) -> Bool {
        switch (lhs, rhs) {
        case (.identity, .identity): true
        case (.fieldMapping(let a), .fieldMapping(let b)): a.map(\.key) == b.map(\.key) && a.map(\.path) == b.map(\.path)
        default: false
        }
    }

    /// The processor for `rule`, and a note when the rule names a policy that is not built in.
    public static func resolve(_ rule: VDAGProcessingRule?, at path: FieldPath) throws(APIError) -> (VDAGProcessor, note: String?) {
        guard let rule else { return (.identity, nil) }
        if let mapping = rule.parameters["mapping"] {
            guard let object = mapping.objectValue, !object.isEmpty else {
                throw APIError.validation([FieldError(path: path / "parameters" / "mapping", message: "expected an object {\"outKey\": \"path.in.input\"}, got \(mapping.typeName)")])
            }
            var fields: [(key: String, path: [String])] = []
            var errors: [FieldError] = []
            for key in object.keys.sorted() {
                guard let source = object[key]?.stringValue, !source.isEmpty else {
                    errors.append(FieldError(path: path / "parameters" / "mapping" / key, message: "expected a dotted path into the input, e.g. \"result.boxes\""))
                    continue
                }
                fields.append((key, source.split(separator: ".").map(String.init)))
            }
            if !errors.isEmpty { throw APIError.validation(errors) }
            return (.fieldMapping(fields), nil)
        }
        guard let uri = rule.policyURI, !uri.lowercased().contains("identity") else { return (.identity, nil) }
        if uri.lowercased().contains("mapping") {
            throw APIError.validation([FieldError(path: path / "parameters" / "mapping", message: "\(uri) maps fields: give parameters.mapping {\"outKey\": \"path.in.input\"}")])
        }
        return (.identity, "\(path): \(uri) is not a built-in processing policy; the node passes packets through unchanged (built in: identity, and a JSON field mapping with parameters.mapping)")
    }

    /// Applies the step to `data`; the mapping needs JSON input.
    public func apply(_ data: String) throws(InferenceError) -> String {
        switch self {
        case .identity:
            return data
        case .fieldMapping(let fields):
            guard let input = JSONValue.decodeJSON(Data(data.utf8)) else {
                throw InferenceError(.invalidArgument, "the field mapping needs JSON data, got \(data.prefix(80))")
            }
            var output: [String: JSONValue] = [:]
            for field in fields {
                var value: JSONValue? = input
                for key in field.path { value = value?[key] }
                output[field.key] = value ?? .null
            }
            return JSONValue.object(output).jsonString()
        }
    }
}
