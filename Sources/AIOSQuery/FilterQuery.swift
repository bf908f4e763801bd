import AIOSModel
import Foundation

/// A parsed, type-checked filter (DESIGN.md §3): logical nodes over conditions and aggregate conditions.
///
/// `{"logicalOperator": "AND"|"OR"|"NOT", "conditions": [...]}` nests;
/// `{"variable", "operator", "value"}` compares the values a path reaches (any element matches);
/// `{"aggOperator", "target", "operator", "value"}` compares an aggregate over them.
public indirect enum FilterQuery: Sendable {
    case and([FilterQuery])
    case or([FilterQuery])
    /// NOT of the conjunction of its conditions.
    case not([FilterQuery])
    case condition(Condition)
    case aggregate(AggregateCondition)

    public struct Condition: Sendable {
        /// Where the condition sits in the submitted spec, for reports.
        public var location: String
        public var variable: DocumentPath
        public var op: FilterOperator
        /// The value, coerced to the variable's type where the schema knows it.
        public var value: JSONValue
        let glob: Glob?
    }

    public struct AggregateCondition: Sendable {
        public var location: String
        public var aggregate: Aggregate
        public var target: DocumentPath
        public var op: FilterOperator
        public var value: JSONValue
    }

    /// A query that matches every document.
    public static let everything = FilterQuery.and([])
}

// MARK: Parsing

extension FilterQuery {
    /// Parses and type-checks `json`. Errors name the offending part by its path (`...conditions[1].operator`).
    /// `samples` are current documents of the kind the query runs on: a variable they hold is known too.
    public static func parse(_ json: JSONValue, at path: FieldPath, schema: VariableSchema, samples: [JSONValue] = []) throws(APIError) -> FilterQuery {
        var errors: [FieldError] = []
        let query = parse(json, at: path, schema: schema, samples: samples, errors: &errors)
        if !errors.isEmpty { throw APIError.validation(errors) }
        return query ?? .everything
    }

    private static func parse(_ json: JSONValue, at path: FieldPath, schema: VariableSchema, samples: [JSONValue], errors: inout [FieldError]) -> FilterQuery? {
        guard let object = json.objectValue else {
            errors.append(FieldError(path: path, message: "expected a condition or {\"logicalOperator\", \"conditions\"}, got \(json.typeName)"))
            return nil
        }
        if object.isEmpty { return .everything }
        if object["logicalOperator"] != nil || object["conditions"] != nil {
            return parseLogical(object, at: path, schema: schema, samples: samples, errors: &errors)
        }
        if object["aggOperator"] != nil {
            return parseAggregate(object, at: path, schema: schema, samples: samples, errors: &errors).map(FilterQuery.aggregate)
        }
        return parseCondition(object, at: path, schema: schema, samples: samples, errors: &errors).map(FilterQuery.condition)
    }

    private static func parseLogical(_ object: [String: JSONValue], at path: FieldPath, schema: VariableSchema, samples: [JSONValue], errors: inout [FieldError]) -> FilterQuery? {
        let logical = object["logicalOperator"]?.stringValue?.uppercased() ?? "AND"
        guard ["AND", "OR", "NOT"].contains(logical) else {
            errors.append(FieldError(path: path / "logicalOperator", message: "expected AND, OR or NOT, got \(object["logicalOperator"]?.jsonString() ?? "nothing")"))
            return nil
        }
        guard let conditions = object["conditions"]?.arrayValue else {
            errors.append(FieldError(path: path / "conditions", message: "expected a list of conditions"))
            return nil
        }
        if logical == "NOT" && conditions.isEmpty {
            errors.append(FieldError(path: path / "conditions", message: "NOT needs at least one condition"))
        }
        var children: [FilterQuery] = []
        for (index, condition) in conditions.enumerated() {
            if let child = parse(condition, at: path / "conditions" / index, schema: schema, samples: samples, errors: &errors) {
                children.append(child)
            }
        }
        switch logical {
        case "OR": return .or(children)
        case "NOT": return .not(children)
        default: return .and(children)
        }
    }

    private static func parseOperator(_ object: [String: JSONValue], at path: FieldPath, errors: inout [FieldError]) -> FilterOperator? {
        guard let spelling = object["operator"]?.stringValue else {
            errors.append(FieldError(path: path / "operator", message: "required: one of \(FilterOperator.allCases.map(\.rawValue).joined(separator: " "))"))
            return nil
        }
        guard let op = FilterOperator(spelling: spelling) else {
            errors.append(FieldError(path: path / "operator", message: "unknown operator \"\(spelling)\"; expected one of \(FilterOperator.allCases.map(\.rawValue).joined(separator: ", "))"))
            return nil
        }
        return op
    }

    private static func parseCondition(_ object: [String: JSONValue], at path: FieldPath, schema: VariableSchema, samples: [JSONValue], errors: inout [FieldError]) -> Condition? {
        let errorCount = errors.count
        let variableText = object["variable"]?.stringValue
        if variableText == nil || variableText!.isEmpty {
            errors.append(FieldError(path: path / "variable", message: "required: a dotted path into the \(schema.documentName) document"))
        }
        let op = parseOperator(object, at: path, errors: &errors)
        guard let value = object["value"] else {
            errors.append(FieldError(path: path / "value", message: "required"))
            return nil
        }
        guard let variableText, !variableText.isEmpty, let op, errors.count == errorCount else { return nil }
        let variable = DocumentPath(variableText)
        guard let type = schema.type(of: variable, samples: samples) else {
            errors.append(FieldError(path: path / "variable", message: "unknown variable \"\(variableText)\" in the \(schema.documentName) document"))
            return nil
        }
        guard let coerced = coerce(value, op: op, to: type, at: path / "value", errors: &errors) else { return nil }
        let glob = op == .like ? coerced.stringValue.map(Glob.init) : nil
        return Condition(location: path.description, variable: variable, op: op, value: coerced, glob: glob)
    }

    private static func parseAggregate(_ object: [String: JSONValue], at path: FieldPath, schema: VariableSchema, samples: [JSONValue], errors: inout [FieldError]) -> AggregateCondition? {
        let errorCount = errors.count
        let aggregate = object["aggOperator"]?.stringValue.flatMap { Aggregate(rawValue: $0.lowercased()) }
        if aggregate == nil {
            errors.append(FieldError(path: path / "aggOperator", message: "expected one of count, sum, avg, min, max"))
        }
        let targetText = object["target"]?.stringValue ?? object["variable"]?.stringValue
        if targetText == nil || targetText!.isEmpty {
            errors.append(FieldError(path: path / "target", message: "required: the array path to aggregate, e.g. nodes.gpus.freeMem"))
        }
        let op = parseOperator(object, at: path, errors: &errors)
        guard let value = object["value"] else {
            errors.append(FieldError(path: path / "value", message: "required"))
            return nil
        }
        guard let aggregate, let targetText, !targetText.isEmpty, let op, errors.count == errorCount else { return nil }
        let target = DocumentPath(targetText)
        guard let type = schema.type(of: target, samples: samples) else {
            errors.append(FieldError(path: path / "target", message: "unknown variable \"\(targetText)\" in the \(schema.documentName) document"))
            return nil
        }
        if schema.passesThroughList(target, samples: samples) == false {
            errors.append(FieldError(path: path / "target", message: "\(targetText) is a single value in the \(schema.documentName) document, not a list: an aggregate needs a path through a list (e.g. nodes.nodeData.gpus.count); compare a single value with {\"variable\", \"operator\", \"value\"}"))
            return nil
        }
        if aggregate != .count && type != .number && type != .any {
            errors.append(FieldError(path: path / "target", message: "\(aggregate.rawValue) needs numbers, but \(targetText) is a \(type.rawValue)"))
            return nil
        }
        guard !([.in, .notIn, .like].contains(op)) else {
            errors.append(FieldError(path: path / "operator", message: "an aggregate compares a number: use == != < <= > >="))
            return nil
        }
        guard let coerced = coerce(value, op: op, to: .number, at: path / "value", errors: &errors) else { return nil }
        return AggregateCondition(location: path.description, aggregate: aggregate, target: target, op: op, value: coerced)
    }

    /// Checks the value's shape for the operator and converts it to the field's type (`"10"` → `10`).
    private static func coerce(_ value: JSONValue, op: FilterOperator, to type: VariableSchema.FieldType, at path: FieldPath, errors: inout [FieldError]) -> JSONValue? {
        switch op {
        case .in, .notIn:
            guard let elements = value.arrayValue else {
                errors.append(FieldError(path: path, message: "\(op.rawValue) needs a list of values, got \(value.typeName)"))
                return nil
            }
            var coerced: [JSONValue] = []
            for (index, element) in elements.enumerated() {
                guard let scalar = coerceScalar(element, to: type, at: path / index, errors: &errors) else { return nil }
                coerced.append(scalar)
            }
            return .array(coerced)
        case .like:
            guard case .string = value else {
                errors.append(FieldError(path: path, message: "LIKE needs a glob string (e.g. \"A100*\"), got \(value.typeName)"))
                return nil
            }
            return value
        default:
            guard let scalar = coerceScalar(value, to: type, at: path, errors: &errors) else { return nil }
            if op.isOrdering, case .bool = scalar {
                errors.append(FieldError(path: path, message: "\(op.rawValue) needs a number or a string, got boolean"))
                return nil
            }
            return scalar
        }
    }

    private static func coerceScalar(_ value: JSONValue, to type: VariableSchema.FieldType, at path: FieldPath, errors: inout [FieldError]) -> JSONValue? {
        switch (type, value) {
        case (_, .array), (_, .object):
            errors.append(FieldError(path: path, message: "expected a single value, got \(value.typeName)"))
            return nil
        case (.number, .string(let text)):
            guard let number = Double(text.trimmingCharacters(in: .whitespaces)) else {
                errors.append(FieldError(path: path, message: "the variable is a number; \"\(text)\" is not one"))
                return nil
            }
            return .number(number)
        case (.number, .bool):
            errors.append(FieldError(path: path, message: "the variable is a number, got boolean"))
            return nil
        case (.string, .number(let number)):
            return .string(number.formatted)
        case (.string, .bool(let bool)):
            return .string(String(bool))
        case (.boolean, .string(let text)) where ["true", "false"].contains(text.lowercased()):
            return .bool(text.lowercased() == "true")
        case (.boolean, .number), (.boolean, .string):
            errors.append(FieldError(path: path, message: "the variable is a boolean, got \(value.typeName)"))
            return nil
        default:
            return value
        }
    }
}
