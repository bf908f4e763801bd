import AIOSModel
import ArgumentParser
import Foundation

struct Describe: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show a block (phase, placement, instances, policies, events), a cluster (driver, nodes) or a vDAG (assignment, controllers, metrics) in detail.")

    enum Resource: String, ExpressibleByArgument { case block, cluster, vdag }

    @Argument(help: "block, cluster or vdag")
    var resource: Resource

    @Argument(help: "The block or cluster id, or the vDAG URI (name:version-releaseTag).")
    var id: String

    @OptionGroup var server: ServerOptions

    func run() async throws {
        var allowed = CharacterSet.urlPathAllowed
        allowed.remove("/")
        let encoded = id.addingPercentEncoding(withAllowedCharacters: allowed) ?? id
        switch resource {
        case .block:
            print(Self.render(try await server.client.get("/api/blocks/\(encoded)").get()))
        case .cluster:
            print(Self.renderCluster(try await server.client.get("/api/clusters/\(encoded)").get()))
        case .vdag:
            print(VDAG.render(try await server.client.get("/api/vdags/\(encoded)").get()))
        }
    }

    /// A cluster: where it is, the driver that runs its instances, and its nodes.
    static func renderCluster(_ cluster: JSONValue) -> String {
        func text(_ value: JSONValue?) -> String {
            switch value {
            case .string(let string)?: string
            case .number(let number)?: number.formatted
            case nil, .null?: "-"
            case let other?: other.jsonString()
            }
        }
        let driver = cluster["driver"]?.stringValue ?? "-"
        let explained = [
            "host": " (this machine: commands as processes, images as OCI containers)",
            "simulated": " (described nodes; instances run on this machine with the GPU ids of their allocation)",
        ][driver] ?? ""
        var lines = [
            "Cluster:     \(text(cluster["id"]))",
            "Region:      \(text(cluster["regionId"]))",
            "Vendor:      \(text(cluster["clusterMetadata"]?["vendor"]))",
            "Driver:      \(driver)\(explained)",
            "GPUs:        \(text(cluster["gpus"]?["count"])) (\(text(cluster["gpus"]?["memory"])) MB)",
        ]
        let nodes = cluster["nodes"]?["nodeData"]?.arrayValue ?? []
        lines.append("Nodes:       \(nodes.count)")
        var table = Table(header: ["  NODE", "GPUS", "GPU MODEL", "VCPUS", "MEMORY MB", "LABELS"])
        for node in nodes {
            let models = Set((node["gpus"]?["gpus"]?.arrayValue ?? []).compactMap { $0["modelName"]?.stringValue }).sorted().joined(separator: ",")
            let labels = (node["labels"]?.objectValue ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value.stringValue ?? $0.value.jsonString())" }.joined(separator: ",")
            table.rows.append(["  " + text(node["id"]), text(node["gpus"]?["count"]), models.isEmpty ? "-" : models,
                               text(node["vcpus"]?["count"] ?? node["vcpus"]), text(node["memory"]), labels.isEmpty ? "-" : labels])
        }
        if !nodes.isEmpty { lines.append(table.render()) }
        return lines.joined(separator: "\n")
    }

    static func render(_ block: JSONValue) -> String {
        func text(_ value: JSONValue?) -> String {
            switch value {
            case .string(let string)?: string
            case .number(let number)?: number.formatted
            case nil, .null?: "-"
            case let other?: other.jsonString()
            }
        }
        var lines = [
            "Block:       \(text(block["blockId"]))",
            "Component:   \(text(block["componentURI"]))",
            "Phase:       \(text(block["phase"]))",
            "Reason:      \(text(block["reason"]))",
            "Instances:   \(block["instances"]?.arrayValue?.count ?? 0) observed, \(text(block["desiredInstances"])) desired (min \(text(block["minInstances"])), max \(text(block["maxInstances"])))",
            "Cluster:     \(text(block["placement"]?["clusterId"]))" + (block["placement"]?["driver"]?.stringValue.map { " (driver \($0))" } ?? "")
                + (block["placement"]?["simulated"]?.boolValue == true ? " (simulated: its instances run on this machine)" : ""),
            "Created:     \(text(block["createdAt"]))",
        ]
        let placements = block["placement"]?["instances"]?.arrayValue ?? []
        if !placements.isEmpty {
            lines.append("Instances:")
            let observed = Dictionary((block["instances"]?.arrayValue ?? []).compactMap { instance in
                instance["instanceId"]?.stringValue.map { ($0, instance) }
            }) { first, _ in first }
            var table = Table(header: ["  INSTANCE", "NODE", "GPUS", "PHASE", "HEALTHY", "PID", "ADDRESS", "RESTARTS"])
            for placement in placements {
                let id = text(placement["instanceId"])
                let gpus = placement["gpus"]?.arrayValue?.compactMap(\.stringValue).joined(separator: ",") ?? ""
                let state = observed[id]
                table.rows.append(["  " + id, text(placement["nodeId"]), gpus.isEmpty ? "-" : gpus, text(state?["phase"]),
                                   state?["healthy"]?.boolValue == true ? "yes" : "no", text(state?["pid"]), text(state?["address"]), text(state?["restarts"])])
            }
            lines.append(table.render())
        }
        if let report = block["placementReport"], !report.isNull {
            lines.append("Placement report:")
            lines += Self.reportLines(report).map { "  " + $0 }
        }
        if let policies = block["resolved"]?["policies"]?.objectValue, !policies.isEmpty {
            lines.append("Policies:")
            for (name, policy) in policies.sorted(by: { $0.key < $1.key }) {
                lines.append("  \(name): \(text(policy["policyRuleURI"]))")
            }
        }
        let events = block["events"]?.arrayValue ?? []
        lines.append("Events:")
        var table = Table(header: ["  TIME", "TYPE", "MESSAGE"])
        for event in events {
            table.rows.append(["  " + text(event["time"]), text(event["type"]), text(event["message"])])
        }
        lines.append(events.isEmpty ? "  (none)" : table.render())
        return lines.joined(separator: "\n")
    }

    /// A placement report (`{summary, clusters[{clusterId, outcome, reasons, nodes[{nodeId, reasons}]}]}`) as indented lines.
    static func reportLines(_ report: JSONValue) -> [String] {
        var lines = [report["summary"]?.stringValue ?? ""]
        for cluster in report["clusters"]?.arrayValue ?? [] where cluster["outcome"]?.stringValue != "chosen" {
            lines.append("cluster \(cluster["clusterId"]?.stringValue ?? "?"): \(cluster["outcome"]?.stringValue ?? "?")")
            for reason in cluster["reasons"]?.arrayValue ?? [] { lines.append("  - \(reason.stringValue ?? "")") }
            for node in cluster["nodes"]?.arrayValue ?? [] {
                lines.append("  node \(node["nodeId"]?.stringValue ?? "?"):")
                for reason in node["reasons"]?.arrayValue ?? [] { lines.append("    - \(reason.stringValue ?? "")") }
            }
        }
        return lines
    }
}
