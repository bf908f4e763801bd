import AIOSModel
import ArgumentParser
import Foundation

/// `aios vdag controller create|remove|list`: vDAG controllers (AIOS `POST /vdag-controller/{clusterId}`).
struct VDAG: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vdag", abstract: "vDAG controllers: create, remove and list them (create a vDAG with aios apply -f vdag.json).",
        subcommands: [Controller.self])

    struct Controller: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Manage the controllers that serve vDAGs.",
                                                        subcommands: [Create.self, Remove.self, List.self])
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Serve a vDAG: vDAGInferenceService/infer on a port of its own, and POST /v1/vdags/ID/infer.")

        @Argument(help: "The controller id.")
        var id: String
        @Option(help: "The vDAG URI (name:version-releaseTag).")
        var vdag: String
        @Option(help: "The cluster the controller belongs to.")
        var cluster = "local"
        @Option(help: "The gRPC port (default: a free one).")
        var port: Int?
        @OptionGroup var server: ServerOptions

        func run() async throws {
            var config: [String: JSONValue] = [:]
            if let port { config["port"] = .number(Double(port)) }
            let body: JSONValue = ["action": "create_controller",
                                   "payload": ["vdag_controller_id": .string(id), "vdag_uri": .string(vdag), "config": .object(config)]]
            let reply = try await server.client.post("/vdag-controller/\(cluster)", body: body.jsonData()).get()
            let data = reply["data"] ?? .null
            print("vDAG controller \(id) serves \(vdag): grpc://\(data["grpc_address"]?.stringValue ?? "?"), REST \(server.server)\(data["rest_path"]?.stringValue ?? "")")
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Stop and remove a vDAG controller.")
        @Argument(help: "The controller id.")
        var id: String
        @Option(help: "The cluster the controller belongs to.")
        var cluster = "local"
        @OptionGroup var server: ServerOptions

        func run() async throws {
            let body: JSONValue = ["action": "remove_controller", "payload": ["vdag_controller_id": .string(id)]]
            _ = try await server.client.post("/vdag-controller/\(cluster)", body: body.jsonData()).get()
            print("vDAG controller \(id) removed")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List vDAG controllers.")
        @OptionGroup var server: ServerOptions

        func run() async throws {
            let controllers = try await server.client.get("/api/vdag-controllers").get().arrayValue ?? []
            print("CONTROLLER  VDAG  CLUSTER  GRPC")
            for controller in controllers {
                print([controller["vdag_controller_id"], controller["vdag_uri"], controller["cluster_id"], controller["grpc_address"]]
                    .map { $0?.stringValue ?? "-" }.joined(separator: "  "))
            }
        }
    }

    /// `aios describe vdag URI`.
    static func render(_ vdag: JSONValue) -> String {
        var lines = [
            "vDAG:        \(vdag["vdagURI"]?.stringValue ?? "?")",
            "Created:     \(vdag["createdAt"]?.stringValue ?? "-")",
            "Nodes:",
        ]
        for (label, block) in (vdag["assignment"]?.objectValue ?? [:]).sorted(by: { $0.key < $1.key }) {
            lines.append("  \(label) → block \(block.stringValue ?? "?")")
        }
        lines.append("Controllers:")
        let controllers = vdag["controllers"]?.arrayValue ?? []
        if controllers.isEmpty { lines.append("  none (aios vdag controller create ID --vdag \(vdag["vdagURI"]?.stringValue ?? "URI"))") }
        for controller in controllers {
            lines.append("  \(controller["vdag_controller_id"]?.stringValue ?? "?"): grpc://\(controller["grpc_address"]?.stringValue ?? "not serving")  REST \(controller["rest_path"]?.stringValue ?? "-")")
            func row(_ name: String, _ stats: JSONValue?) -> String {
                let p50 = stats?["p50_ms"]?.numberValue.map { String(format: "%.1f ms", $0) } ?? "-"
                let p99 = stats?["p99_ms"]?.numberValue.map { String(format: "%.1f ms", $0) } ?? "-"
                return "    \(name): \(stats?["total"]?.intValue ?? 0) requests, \(stats?["errors"]?.intValue ?? 0) errors, p50 \(p50), p99 \(p99) (last 5 min)"
            }
            lines.append(row("all", controller["metrics"]?["requests"]))
            for (node, stats) in (controller["metrics"]?["nodes"]?.objectValue ?? [:]).sorted(by: { $0.key < $1.key }) {
                lines.append(row("node \(node)", stats))
            }
        }
        return lines.joined(separator: "\n")
    }
}
