import Foundation

extension JSONValue {
    /// A time as the API shows it: ISO 8601 with fractional seconds, UTC (`2026-12-06T05:27:44.123Z`).
    public static func time(_ date: Date) -> JSONValue {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return .string(formatter.string(from: date))
    }
}
