import Foundation

/// The Prometheus text exposition format: families declared once (HELP, TYPE), samples grouped under them.
public struct PrometheusText {
    public init() {}

    private var order: [String] = []
    private var headers: [String: String] = [:]
    private var samples: [String: [String]] = [:]

    public mutating func family(_ name: String, _ type: String, _ help: String) {
        guard headers[name] == nil else { return }
        order.append(name)
        headers[name] = "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
    }

    public mutating func add(_ name: String, _ labels: [String: String], _ value: Double) {
        let rendered = labels.sorted { $0.key < $1.key }.map { "\($0.key)=\"\(Self.escape($0.value))\"" }.joined(separator: ",")
        samples[name, default: []].append("\(name)\(rendered.isEmpty ? "" : "{\(rendered)}") \(Self.format(value))")
    }

    public var rendered: String {
        order.map { name in headers[name, default: ""] + (samples[name] ?? []).map { $0 + "\n" }.joined() }.joined()
    }

    public static func escape(_ value: String) -> String {
        value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"").replacingOccurrences(of: "\n", with: "\\n")
    }

    public static func format(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return String(value)
    }
}
