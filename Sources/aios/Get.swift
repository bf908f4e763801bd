import AIOSModel
import ArgumentParser
import Foundation

enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case table, json, yaml
}

struct Get: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List components, clusters or blocks.")

    enum Resource: String, ExpressibleByArgument, CaseIterable {
        case components, clusters, blocks
        // Singular spellings read naturally too: `aios get block`.
        init?(argument: String) {
            let plural = argument.hasSuffix("s") ? argument : argument + "s"
            self.init(rawValue: plural)
        }
    }

    @Argument(help: "components, clusters or blocks")
    var resource: Resource

    @Option(name: .shortAndLong, help: "Output format: table, json or yaml.")
    var output: OutputFormat = .table

    @OptionGroup var server: ServerOptions

    func run() async throws {
        let list = try await server.client.get("/api/\(resource.rawValue)").get()
        switch output {
        case .json: print(list.jsonString(pretty: true))
        case .yaml: print(list.yamlString(), terminator: "")
        case .table: print(table(list.arrayValue ?? []).render())
        }
    }

    private func table(_ items: [JSONValue]) -> Table {
        func text(_ value: JSONValue?) -> String {
            switch value {
            case .string(let string)?: string
            case .number(let number)?: number.formatted
            case .bool(let bool)?: String(bool)
            default: "-"
            }
        }
        switch resource {
        case .components:
            return Table(header: ["URI", "TYPE", "MODE", "IMAGE", "CREATED"], rows: items.map { item in
                [text(item["componentURI"]), text(item["componentType"]),
                 text(item["containerRegistryInfo"]?["componentMode"]), text(item["containerRegistryInfo"]?["containerImage"]),
                 text(item["createdAt"])]
            })
        case .clusters:
            return Table(header: ["ID", "REGION", "VENDOR", "NODES", "GPUS", "GPU MEM (MB)", "VCPUS", "MEMORY (MB)"], rows: items.map { item in
                [text(item["id"]), text(item["regionId"]), text(item["clusterMetadata"]?["vendor"]), text(item["nodes"]?["count"]),
                 text(item["gpus"]?["count"]), text(item["gpus"]?["memory"]), text(item["vcpus"]?["count"]), text(item["memory"])]
            })
        case .blocks:
            return Table(header: ["BLOCK", "COMPONENT", "PHASE", "INSTANCES", "MIN/MAX", "CLUSTER", "REASON"], rows: items.map { item in
                let observed = item["instances"]?.arrayValue?.count ?? 0
                return [text(item["blockId"]), text(item["componentURI"]), text(item["phase"]),
                        "\(observed)/\(text(item["desiredInstances"]))",
                        "\(text(item["minInstances"]))/\(text(item["maxInstances"]))",
                        text(item["placement"]?["clusterId"]), text(item["reason"])]
            })
        }
    }
}
