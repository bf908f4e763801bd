/// Cluster and node ids: letters, digits, `.`, `_` and `-`, starting with a letter or digit, at most 63 characters.
public enum ResourceName {
    public static func problem(_ name: String) -> String? {
        if name.isEmpty { return "must not be empty" }
        if name.count > 63 { return "must be at most 63 characters, got \(name.count)" }
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
        if let bad = name.first(where: { !allowed.contains($0) }) {
            return "letters, digits, '.', '_' and '-' only; \"\(bad)\" is not allowed"
        }
        if let first = name.first, !first.isLetter && !first.isNumber { return "must start with a letter or digit" }
        return nil
    }
}
