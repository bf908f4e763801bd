import Foundation

/// Kubernetes resource quantities (`3800m`, `16Gi`, `16318412Ki`, `1e3`, `2`) as numbers.
public enum KubernetesQuantity {
    private static let suffixes: [(String, Double)] = [
        ("Ki", 1024), ("Mi", 1024 * 1024), ("Gi", pow(1024, 3)), ("Ti", pow(1024, 4)), ("Pi", pow(1024, 5)), ("Ei", pow(1024, 6)),
        ("n", -1e9), ("u", -1e6), ("m", -1e3), ("k", 1e3), ("M", 1e6), ("G", 1e9), ("T", 1e12), ("P", 1e15), ("E", 1e18),
    ]

    /// The quantity's value in base units (cores, bytes, devices); `nil` when it is not a quantity.
    public static func parse(_ text: String) -> Double? {
        let text = text.trimmingCharacters(in: .whitespaces)
        guard !text.isEmpty, text.count <= 64 else { return nil }
        for (suffix, factor) in suffixes where text.hasSuffix(suffix) {
            guard let number = Double(text.dropLast(suffix.count)), number.isFinite else { return nil }
            // A negative factor divides: 3800m is 3800 / 1000, exactly 3.8.
            return factor < 0 ? number / -factor : number * factor
        }
        guard let number = Double(text), number.isFinite else { return nil }
        return number
    }

    /// Bytes as MB (the unit of node documents).
    public static func megabytes(_ text: String) -> Double? {
        parse(text).map { $0 / (1024 * 1024) }
    }

    /// Cores as a quantity for a pod's resources: `1500m`.
    public static func cpu(_ cores: Double) -> String {
        "\(max(1, whole((cores * 1000).rounded())))m"
    }

    /// MB as a quantity for a pod's resources: `2048Mi`.
    public static func memory(_ megabytes: Double) -> String {
        "\(max(1, whole(megabytes.rounded(.up))))Mi"
    }

    /// A number from a spec or a server as an `Int` in `0...limit`: NaN is 0 and anything larger is the limit, so an
    /// absurd value (`1e300` CPUs, `1e300` GPUs) is refused by Kubernetes instead of trapping here.
    public static func whole(_ value: Double, limit: Int = 1 << 50) -> Int {
        guard !value.isNaN else { return 0 }
        return Int(min(max(value, 0), Double(limit)))
    }
}
