import GRPCCore

/// The client's deadline, from the `grpc-timeout` request header (`1234m` = 1234 ms; units H M S m u n).
public enum GRPCTimeout {
    public static func parse(_ metadata: Metadata) -> Duration? {
        // The gRPC spec allows at most 8 digits, which keeps every unit below overflow.
        guard let text = Array(metadata[stringValues: "grpc-timeout"]).first, (2...9).contains(text.count),
              let amount = Int64(text.dropLast()), amount >= 0 else { return nil }
        switch text.last {
        case "H": return .seconds(amount * 3600)
        case "M": return .seconds(amount * 60)
        case "S": return .seconds(amount)
        case "m": return .milliseconds(amount)
        case "u": return .microseconds(amount)
        case "n": return .nanoseconds(amount)
        default: return nil
        }
    }
}
