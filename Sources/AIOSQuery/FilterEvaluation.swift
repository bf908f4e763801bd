import AIOSModel

/// A condition that did not hold, with the values it saw: `cluster.gpu.totalFreeMem = 32000, needs > 48000`.
public struct FilterFailure: Sendable, Equatable, CustomStringConvertible {
    /// Where the condition sits in the submitted spec.
    public var location: String
    public var description: String
}

extension FilterQuery {
    /// Whether `document` satisfies the query.
    public func matches(_ document: JSONValue) -> Bool {
        switch self {
        case .and(let children): children.allSatisfy { $0.matches(document) }
        case .or(let children): children.contains { $0.matches(document) }
        case .not(let children): !children.allSatisfy { $0.matches(document) }
        case .condition(let condition): condition.matches(document)
        case .aggregate(let aggregate): aggregate.matches(document)
        }
    }

    /// Why `document` does not satisfy the query; empty when it does.
    public func failures(_ document: JSONValue) -> [FilterFailure] {
        switch self {
        case .and(let children):
            return children.flatMap { $0.failures(document) }
        case .or(let children):
            guard !children.isEmpty, !children.contains(where: { $0.matches(document) }) else { return [] }
            let reasons = children.flatMap { $0.failures(document) }
            return [FilterFailure(location: reasons.first?.location ?? "", description: "none of OR held: " + reasons.map(\.description).joined(separator: "; "))]
        case .not(let children):
            guard children.allSatisfy({ $0.matches(document) }) else { return [] }
            return [FilterFailure(location: children.first?.location ?? "", description: "NOT failed: " + children.map { $0.summary(document) }.joined(separator: " and ") + " all held")]
        case .condition(let condition):
            return condition.matches(document) ? [] : [FilterFailure(location: condition.location, description: condition.explain(document))]
        case .aggregate(let aggregate):
            return aggregate.matches(document) ? [] : [FilterFailure(location: aggregate.location, description: aggregate.explain(document))]
        }
    }

    var location: String {
        switch self {
        case .and(let children), .or(let children), .not(let children): children.first?.location ?? ""
        case .condition(let condition): condition.location
        case .aggregate(let aggregate): aggregate.location
        }
    }

    /// The query with the values `document` gives it, for messages.
    func summary(_ document: JSONValue) -> String {
        switch self {
        case .and(let children): "(" + children.map { $0.summary(document) }.joined(separator: " AND ") + ")"
        case .or(let children): "(" + children.map { $0.summary(document) }.joined(separator: " OR ") + ")"
        case .not(let children): "NOT (" + children.map { $0.summary(document) }.joined(separator: " AND ") + ")"
        case .condition(let condition): condition.explain(document)
        case .aggregate(let aggregate): aggregate.explain(document)
        }
    }
}

extension FilterQuery.Condition {
    public func matches(_ document: JSONValue) -> Bool {
        let values = variable.values(in: document)
        switch op {
        case .notEqual:
            return !values.contains { Comparison.equal($0, value) }
        case .notIn:
            let list = value.arrayValue ?? []
            return !values.contains { actual in list.contains { Comparison.equal(actual, $0) } }
        case .in:
            let list = value.arrayValue ?? []
            return values.contains { actual in list.contains { Comparison.equal(actual, $0) } }
        case .like:
            guard let glob else { return false }
            return values.contains { actual in Comparison.text(actual).map(glob.matches) ?? false }
        case .equal:
            return values.contains { Comparison.equal($0, value) }
        case .less, .lessOrEqual, .greater, .greaterOrEqual:
            return values.contains { Comparison.order($0, op, value) }
        }
    }

    func explain(_ document: JSONValue) -> String {
        let values = variable.values(in: document)
        let actual = values.isEmpty ? "(missing)" : values.count == 1 ? Comparison.show(values[0]) : "[" + values.map(Comparison.show).joined(separator: ", ") + "]"
        return "\(variable) = \(actual), needs \(op.rawValue) \(Comparison.show(value))"
    }
}

extension FilterQuery.AggregateCondition {
    /// The aggregate over the numbers `target` reaches; `nil` for avg/min/max of nothing.
    public func compute(_ document: JSONValue) -> Double? {
        let values = target.values(in: document)
        let numbers = values.compactMap { Comparison.number($0) }
        switch aggregate {
        case .count: return Double(values.count)
        case .sum: return numbers.reduce(0, +)
        case .avg: return numbers.isEmpty ? nil : numbers.reduce(0, +) / Double(numbers.count)
        case .min: return numbers.min()
        case .max: return numbers.max()
        }
    }

    public func matches(_ document: JSONValue) -> Bool {
        guard let result = compute(document) else { return false }
        switch op {
        case .equal: return Comparison.equal(.number(result), value)
        case .notEqual: return !Comparison.equal(.number(result), value)
        default: return Comparison.order(.number(result), op, value)
        }
    }

    func explain(_ document: JSONValue) -> String {
        let result = compute(document).map { $0.formatted } ?? "(no values)"
        return "\(aggregate.rawValue)(\(target)) = \(result), needs \(op.rawValue) \(Comparison.show(value))"
    }
}

/// Comparisons between a document's value and a query's value, coercing across number, string and boolean.
enum Comparison {
    static func number(_ value: JSONValue) -> Double? {
        switch value {
        case .number(let number): number
        case .string(let text): Double(text)
        default: nil
        }
    }

    static func text(_ value: JSONValue) -> String? {
        switch value {
        case .string(let text): text
        case .number(let number): number.formatted
        case .bool(let bool): String(bool)
        default: nil
        }
    }

    static func equal(_ actual: JSONValue, _ expected: JSONValue) -> Bool {
        switch (actual, expected) {
        case (.number(let a), .number(let b)): return a == b
        case (.string(let a), .string(let b)): return a == b
        case (.bool(let a), .bool(let b)): return a == b
        case (.null, .null): return true
        case (.number, .string), (.string, .number):
            guard let a = number(actual), let b = number(expected) else { return text(actual) == text(expected) }
            return a == b
        case (.bool(let a), .string(let b)), (.string(let b), .bool(let a)):
            return String(a) == b.lowercased()
        default:
            return false
        }
    }

    static func order(_ actual: JSONValue, _ op: FilterOperator, _ expected: JSONValue) -> Bool {
        if let a = number(actual), let b = number(expected), !(isString(actual) && isString(expected)) {
            return compare(a, op, b)
        }
        if case .string(let a) = actual, case .string(let b) = expected {
            return compare(a, op, b)
        }
        return false
    }

    private static func isString(_ value: JSONValue) -> Bool {
        if case .string = value { return true }
        return false
    }

    private static func compare<T: Comparable>(_ a: T, _ op: FilterOperator, _ b: T) -> Bool {
        switch op {
        case .less: a < b
        case .lessOrEqual: a <= b
        case .greater: a > b
        case .greaterOrEqual: a >= b
        default: false
        }
    }

    static func show(_ value: JSONValue) -> String {
        switch value {
        case .number(let number): number.formatted
        case .string(let text): text
        default: value.jsonString()
        }
    }
}
