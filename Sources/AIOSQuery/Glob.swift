/// An anchored glob: `*` matches any run of characters, `?` exactly one; everything else matches itself.
public struct Glob: Sendable, Hashable {
    private let pattern: [Character]

    public init(_ pattern: String) {
        self.pattern = Array(pattern)
    }

    public func matches(_ text: String) -> Bool {
        let text = Array(text)
        var t = 0, p = 0
        var starP = -1, starT = 0
        while t < text.count {
            if p < pattern.count && (pattern[p] == "?" || pattern[p] == text[t]) {
                t += 1
                p += 1
            } else if p < pattern.count && pattern[p] == "*" {
                starP = p
                starT = t
                p += 1
            } else if starP >= 0 {
                p = starP + 1
                starT += 1
                t = starT
            } else {
                return false
            }
        }
        while p < pattern.count && pattern[p] == "*" { p += 1 }
        return p == pattern.count
    }
}
