import AIOSModel
import Foundation

/// A line a splitter writes to report to the platform (the `aios_splits` SDK's protocol):
/// `AIOS_SPLIT_PROGRESS {"progress", "message"}` or `AIOS_SPLIT_STAGE {"stage", "ok", "message"}`.
public enum SplitterReport: Sendable, Equatable {
    case progress(Double, message: String)
    case stage(String, ok: Bool, message: String)

    public static let progressPrefix = "AIOS_SPLIT_PROGRESS "
    public static let stagePrefix = "AIOS_SPLIT_STAGE "

    /// The report on `line`, or `nil` when the line is other output.
    public init?(line: Substring) {
        if let start = line.range(of: Self.progressPrefix)?.upperBound,
           case .object(let fields)? = JSONValue.decodeJSON(Data(line[start...].utf8)),
           let progress = fields["progress"]?.numberValue, progress.isFinite {
            self = .progress(min(max(progress, 0), 1), message: fields["message"]?.stringValue ?? "")
        } else if let start = line.range(of: Self.stagePrefix)?.upperBound,
                  case .object(let fields)? = JSONValue.decodeJSON(Data(line[start...].utf8)),
                  let stage = fields["stage"]?.stringValue, let ok = fields["ok"]?.boolValue {
            self = .stage(stage, ok: ok, message: fields["message"]?.stringValue ?? "")
        } else {
            return nil
        }
    }
}
