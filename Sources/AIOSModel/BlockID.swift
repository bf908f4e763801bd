/// Block identifiers are DNS labels (they name services and containers): lowercase letters, digits and
/// `-`, starting and ending with a letter or digit, at most 63 characters.
public enum BlockID {
    public static let maxLength = 63

    /// Why `id` is not a valid block id, or `nil` when it is.
    public static func problem(_ id: String) -> String? {
        if id.isEmpty { return "must not be empty" }
        if id.count > maxLength { return "must be at most \(maxLength) characters (a DNS label), got \(id.count)" }
        let allowed = Set("abcdefghijklmnopqrstuvwxyz0123456789-")
        if let bad = id.first(where: { !allowed.contains($0) }) {
            return "must be a DNS label (lowercase letters, digits and '-'); \"\(bad)\" is not allowed"
        }
        if id.first == "-" || id.last == "-" { return "must start and end with a letter or digit" }
        return nil
    }

    /// A fresh `blk-xxxxxxxx` id.
    public static func generate() -> String {
        RandomID.make(prefix: "blk-", length: 8)
    }
}

/// Random ids that are DNS-label safe: a prefix and lowercase letters and digits.
public enum RandomID {
    private static let alphabet = Array("abcdefghijklmnopqrstuvwxyz0123456789")

    public static func make(prefix: String, length: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        return prefix + String((0..<length).map { _ in alphabet[Int(generator.next(upperBound: UInt64(alphabet.count)))] })
    }
}
