import AIOSModel
import ArgumentParser
import Foundation

struct Top: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "A live table of every block's instances: CPU, memory, requests in flight, rate and latency.")

    @Option(help: "Seconds between refreshes.")
    var interval: Double = 2

    @Flag(help: "Print the table once and exit.")
    var once = false

    @OptionGroup var server: ServerOptions

    func validate() throws {
        guard interval >= 0.2 else { throw ValidationError("--interval must be at least 0.2 seconds") }
    }

    func run() async throws {
        while true {
            let table = try await render()
            if once {
                print(table)
                return
            }
            print("\u{1B}[2J\u{1B}[H" + table, terminator: "")
            try await Task.sleep(for: .seconds(interval))
        }
    }

    private func render() async throws -> String {
        let blocks = try await server.client.get("/api/blocks").get().arrayValue ?? []
        var rows: [[String]] = []
        for block in blocks {
            guard let id = block["blockId"]?.stringValue else { continue }
            let metrics = try await server.client.get("/api/blocks/\(id)/metrics").get()
            func row(_ name: String, _ value: JSONValue?) -> [String] {
                let oneMinute = value?["requests"]?["1m"]
                return [id, name, value?["healthy"]?.boolValue.map { $0 ? "yes" : "no" } ?? "\(value?["healthyInstances"]?.intValue ?? 0)/\(value?["instances"]?.intValue ?? 0)",
                        format(value?["cpuPercent"]?.numberValue, "%.0f%%"), format(value?["rssBytes"]?.numberValue.map { $0 / 1_048_576 }, "%.0f MiB"),
                        "\(value?["inFlight"]?.intValue ?? 0)", "\(value?["queued"]?.intValue ?? 0)",
                        format(oneMinute?["ratePerSecond"]?.numberValue, "%.1f/s"), format(oneMinute?["p50Ms"]?.numberValue, "%.1f ms"),
                        format(oneMinute?["p99Ms"]?.numberValue, "%.1f ms")]
            }
            rows.append(row("(block \(block["phase"]?.stringValue ?? "?"))", metrics["block"]))
            for instance in metrics["instances"]?.arrayValue ?? [] {
                rows.append(row(instance["instanceId"]?.stringValue ?? "?", instance))
            }
        }
        return Table(header: ["BLOCK", "INSTANCE", "HEALTHY", "CPU", "RSS", "IN FLIGHT", "QUEUED", "RATE 1M", "P50 1M", "P99 1M"], rows: rows).render() + "\n"
    }

    private func format(_ value: Double?, _ pattern: String) -> String {
        value.map { String(format: pattern, $0) } ?? "-"
    }
}
