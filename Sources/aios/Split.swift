import AIOSClient
import AIOSModel
import ArgumentParser
import Foundation

/// `aios split create|status|deploy|list`: split tasks (`POST /api/splits`, `docs/model-plan.md`).
struct Split: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "split", abstract: "Split a model into blocks chained as a vDAG: create a split task, follow it, deploy its plan.",
        subcommands: [Create.self, Status.self, Deploy.self, List.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Start a split task; prints its id.")

        @Option(help: "The model file (GGUF) on the platform's host.")
        var model: String
        @Option(help: "The number of contiguous splits.")
        var splits: Int?
        @Option(help: "even (equal layer counts) or balanced (sized to the target nodes' free memory).")
        var strategy: String?
        @Option(help: "With balanced: size the splits to this cluster's nodes; the plan's blocks are placed on it.")
        var cluster: String?
        @Option(help: "GPUs each split block asks for (default: 1 with --cluster, else 0).")
        var gpus: Int?
        @Option(help: "The split runner component URI.")
        var runner: String?
        @Option(help: "The splitter: a built-in name (layer-range).")
        var splitter: String?
        @Flag(name: .shortAndLong, help: "Follow the task until it ends.")
        var follow = false
        @OptionGroup var server: ServerOptions

        func run() async throws {
            var body: [String: JSONValue] = ["model": .string(URL(fileURLWithPath: model).standardizedFileURL.path)]
            if let splits { body["splits"] = .number(Double(splits)) }
            if let strategy { body["strategy"] = .string(strategy) }
            if let cluster { body["clusterId"] = .string(cluster) }
            if let gpus { body["gpus"] = .number(Double(gpus)) }
            if let runner { body["runner"] = .string(runner) }
            if let splitter { body["splitter"] = .string(splitter) }
            let reply = try await server.client.post("/api/splits", body: JSONValue.object(body).jsonData()).get()
            let id = reply["task_id"]?.stringValue ?? "?"
            print("split task \(id) created")
            if follow { try await Status.follow(id, server: server) }
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a split task: status, progress and its plan.")
        @Argument(help: "The task id.")
        var id: String
        @Flag(name: .shortAndLong, help: "Follow the task's progress until it ends.")
        var follow = false
        @OptionGroup var server: ServerOptions

        func run() async throws {
            if follow {
                try await Self.follow(id, server: server)
            } else {
                print(Self.render(try await server.client.get("/api/splits/\(id)").get()))
            }
        }

        /// Prints each change of progress until the task is complete or failed; exits non-zero when it failed.
        static func follow(_ id: String, server: ServerOptions) async throws {
            var last = ""
            while true {
                let task = try await server.client.get("/api/splits/\(id)").get()
                let status = task["status"]?.stringValue ?? "?"
                let line = "[\(status)] \(Int((task["progress"]?.numberValue ?? 0) * 100))% \(task["message"]?.stringValue ?? "")"
                if line != last {
                    print(line)
                    last = line
                }
                if status == "complete" {
                    print(render(task))
                    return
                }
                if status == "failed" { throw ExitCode(1) }
                try await Task.sleep(for: .milliseconds(500))
            }
        }

        static func render(_ task: JSONValue) -> String {
            var lines = [
                "Split task:  \(task["task_id"]?.stringValue ?? "?")",
                "Status:      \(task["status"]?.stringValue ?? "?") (\(Int((task["progress"]?.numberValue ?? 0) * 100))%)",
                "Message:     \(task["message"]?.stringValue ?? "")",
            ]
            if let plan = task["plan"], !plan.isNull {
                let model = plan["model"] ?? .null
                lines.append("Model:       \(model["name"]?.stringValue ?? "?") (\(model["architecture"]?.stringValue ?? "?"), \(model["layers"]?.intValue ?? 0) layers, \(model["dtype"]?.stringValue ?? "?"))")
                lines.append("Splits:")
                for split in plan["splits"]?.arrayValue ?? [] {
                    let layers = split["layers"]?.arrayValue?.compactMap(\.intValue) ?? []
                    let size = (split["artifact"]?["size"]?.numberValue ?? 0) / 1_000_000
                    lines.append("  \(split["splitId"]?.stringValue ?? "?")  layers \(layers.first ?? 0)-\(layers.last ?? 0)  \(split["memoryMB"]?.numberValue?.formatted ?? "?") MB  artifact \(String(format: "%.1f", size)) MB \(split["artifact"]?["uri"]?.stringValue ?? "")")
                }
            }
            if let deployment = task["deployment"], !deployment.isNull {
                lines.append("Deployed:    vDAG \(deployment["vdagURI"]?.stringValue ?? "?"), controller \(deployment["controllerId"]?.stringValue ?? "?") (POST /v1/chat/completions with \"model\": \"\(deployment["controllerId"]?.stringValue ?? "?")\")")
            }
            return lines.joined(separator: "\n")
        }
    }

    struct Deploy: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Deploy a complete task's plan: its blocks, the vDAG and a controller.")
        @Argument(help: "The task id.")
        var id: String
        @Option(help: "The controller id (default: the vDAG's name); chat with \"model\" set to it.")
        var controller: String?
        @Option(help: "The cluster the controller belongs to.")
        var cluster: String?
        @Option(help: "Seconds to wait for the split blocks to be ready.")
        var wait: Int = 180
        @OptionGroup var server: ServerOptions

        func run() async throws {
            var body: [String: JSONValue] = ["wait_s": .number(Double(wait))]
            if let controller { body["controllerId"] = .string(controller) }
            if let cluster { body["clusterId"] = .string(cluster) }
            // The server answers once the blocks serve: wait as long as it may.
            let client = APIClient(server: server.server, token: server.resolvedToken, caFile: server.caFile, timeout: .seconds(Int64(wait) + 60))
            let reply = try await client.post("/api/splits/\(id)/deploy", body: JSONValue.object(body).jsonData()).get()
            let blocks = reply["blocks"]?.arrayValue?.compactMap(\.stringValue) ?? []
            print("deployed \(blocks.count) split blocks (\(blocks.joined(separator: ", "))) as vDAG \(reply["vdagURI"]?.stringValue ?? "?")")
            print("controller \(reply["controllerId"]?.stringValue ?? "?"): POST \(server.server)/v1/chat/completions {\"model\": \"\(reply["controllerId"]?.stringValue ?? "?")\", \"messages\": [...]}")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List split tasks.")
        @OptionGroup var server: ServerOptions

        func run() async throws {
            let tasks = try await server.client.get("/api/splits").get().arrayValue ?? []
            print("TASK  STATUS  PROGRESS  SPLITS  CONTROLLER")
            for task in tasks {
                print([task["task_id"]?.stringValue ?? "?", task["status"]?.stringValue ?? "?",
                       "\(Int((task["progress"]?.numberValue ?? 0) * 100))%",
                       "\(task["plan"]?["splits"]?.arrayValue?.count ?? 0)",
                       task["deployment"]?["controllerId"]?.stringValue ?? "-"].joined(separator: "  "))
            }
        }
    }
}
