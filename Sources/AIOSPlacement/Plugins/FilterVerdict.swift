/// What a filter says about one node (or one GPU): it passes, or it is rejected for the reasons given
/// (written with the values seen, as people read them in the placement report).
public enum FilterVerdict: Sendable, Equatable {
    case pass
    case reject([String])

    /// Rejected for one reason.
    public static func reject(_ reason: String) -> Self { .reject([reason]) }

    public var passed: Bool {
        if case .pass = self { return true }
        return false
    }

    public var reasons: [String] {
        if case .reject(let reasons) = self { return reasons }
        return []
    }
}
