import AIOSModel

/// A bad value in a policy's `parameters` or `settings`: a running block notes it and uses the default
/// (it was created before the value was checked), `createBlock` refuses it (`BlockPolicySettings`).
struct PolicyProblem: Sendable, Equatable {
    /// Inside the policy rule: `settings.max_queued_requests`.
    var field: FieldPath
    /// What is wrong, e.g. `must be a positive integer, got -3`.
    var message: String
    /// What a running block uses instead.
    var fallback: String

    var note: String { "\(field) \(message); using \(fallback)" }
}

/// Reads typed values out of a policy rule's `parameters` and `settings`, collecting what is wrong with
/// them (`problems`) and what is worth saying about the choices made (`remarks`), instead of failing.
struct PolicyValueReader {
    var problems: [PolicyProblem] = []
    var remarks: [String] = []

    /// Problems first (as notes), then remarks: what a running block's events say about its policy.
    var notes: [String] { problems.map(\.note) + remarks }

    /// `values[key]` as an integer of at least 1; `fallback` when it is absent or bad.
    mutating func positiveInteger(_ values: [String: JSONValue], _ section: String, _ key: String, default fallback: Int) -> Int {
        guard let value = values[key] else { return fallback }
        guard let number = value.intValue, number > 0 else {
            problems.append(PolicyProblem(field: FieldPath(dotted: section) / key,
                                          message: "must be a positive integer, got \(value.jsonString())", fallback: "\(fallback)"))
            return fallback
        }
        return number
    }

    /// `values[key]` as a number that `accepts`; `fallback` when it is absent or bad. `rule` says what
    /// is accepted ("a number in 0.01...1.0").
    mutating func number(_ values: [String: JSONValue], _ section: String, _ key: String, default fallback: Double,
                         must rule: String, accepts: (Double) -> Bool) -> Double {
        guard let value = values[key] else { return fallback }
        guard let number = value.numberValue, accepts(number) else {
            problems.append(PolicyProblem(field: FieldPath(dotted: section) / key,
                                          message: "must be \(rule), got \(value.jsonString())", fallback: "\(fallback)"))
            return fallback
        }
        return number
    }

    /// `values[key]` as a number in `range`.
    mutating func number(_ values: [String: JSONValue], _ section: String, _ key: String, in range: ClosedRange<Double>,
                         default fallback: Double) -> Double {
        number(values, section, key, default: fallback, must: "a number in \(range.lowerBound)...\(range.upperBound)",
               accepts: range.contains)
    }
}
