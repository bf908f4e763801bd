import AIOSModel
import ArgumentParser
import Foundation

/// `aios token create|list|revoke`: the platform's bearer tokens (admin only).
struct Token: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Issue, list and revoke bearer tokens (needs the admin token).",
        subcommands: [Create.self, List.self, Revoke.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Issue a token; it is printed once.")

        @Argument(help: "A name that says who or what holds the token.")
        var name: String

        @Option(name: .customLong("scope"), help: "admin, deploy, infer, read or node (repeat for several).")
        var scopes: [String] = []

        @Option(help: "For a node token: the cluster whose nodes' metrics it may push.")
        var cluster: String?

        @Option(help: "Seconds until the token expires (default: never).")
        var expiresIn: Double?

        @OptionGroup var server: ServerOptions

        func run() async throws {
            var request: [String: JSONValue] = ["name": .string(name), "scopes": .array(scopes.map(JSONValue.string))]
            if let cluster { request["clusterId"] = .string(cluster) }
            if let expiresIn { request["expiresInSeconds"] = .number(expiresIn) }
            let reply = try await server.client.post("/api/tokens", body: JSONValue.object(request).jsonData()).get()
            printError("token \(reply["id"]?.stringValue ?? "?") (\(scopes.joined(separator: ", "))): shown this once, keep it")
            print(reply["token"]?.stringValue ?? "")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List tokens (never their secrets).")

        @OptionGroup var server: ServerOptions

        func run() async throws {
            let tokens = try await server.client.get("/api/tokens").get().arrayValue ?? []
            let rows = tokens.map { token in
                [token["id"]?.stringValue ?? "", token["name"]?.stringValue ?? "",
                 (token["scopes"]?.arrayValue ?? []).compactMap(\.stringValue).joined(separator: ","),
                 token["clusterId"]?.stringValue ?? "-", token["expiresAt"]?.stringValue ?? "never"]
            }
            print(Table(header: ["ID", "NAME", "SCOPES", "CLUSTER", "EXPIRES"], rows: rows).render())
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a token at once.")

        @Argument(help: "The token id.")
        var id: String

        @OptionGroup var server: ServerOptions

        func run() async throws {
            _ = try await server.client.delete("/api/tokens/\(id)").get()
            print("token \(id) revoked")
        }
    }
}
