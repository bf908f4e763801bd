/// A comparison in a filter condition.
public enum FilterOperator: String, Sendable, CaseIterable {
    case equal = "=="
    case notEqual = "!="
    case less = "<"
    case lessOrEqual = "<="
    case greater = ">"
    case greaterOrEqual = ">="
    case `in` = "IN"
    case notIn = "NOT IN"
    case like = "LIKE"

    /// Reads an operator as users write it: `IN ANY` is `IN`, `=` is `==`, case and spacing do not matter.
    public init?(spelling: String) {
        let normalised = spelling.uppercased().split(whereSeparator: \.isWhitespace).joined(separator: " ")
        switch normalised {
        case "==", "=", "EQ": self = .equal
        case "!=", "<>", "NE": self = .notEqual
        case "<", "LT": self = .less
        case "<=", "LTE": self = .lessOrEqual
        case ">", "GT": self = .greater
        case ">=", "GTE": self = .greaterOrEqual
        case "IN", "IN ANY": self = .in
        case "NOT IN", "NIN": self = .notIn
        case "LIKE": self = .like
        default: return nil
        }
    }

    /// Whether the condition holds for a document when none of its values match (missing field, empty array).
    var holdsVacuously: Bool { self == .notEqual || self == .notIn }

    var isOrdering: Bool { [.less, .lessOrEqual, .greater, .greaterOrEqual].contains(self) }
}

/// An aggregate over the values an array path reaches.
public enum Aggregate: String, Sendable, CaseIterable {
    case count, sum, avg, min, max
}
