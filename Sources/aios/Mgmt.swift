import AIOSModel
import ArgumentParser
import Foundation

struct Mgmt: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Send a management command to a block's instances (or its executor) and print every answer.",
        discussion: "`aios mgmt BLOCK set_parameters --data '{\"temperature\": 0.2}'` updates and stores parameters.")

    @Argument(help: "The block id.")
    var block: String

    @Argument(help: "The command (the component's management commands, or set_parameters).")
    var command: String

    @Option(help: "The command's data, as JSON.")
    var data: String = "{}"

    @Option(help: "Only this instance.")
    var instance: String?

    @Option(help: "instances (default) or executor.")
    var service: String = "instances"

    @OptionGroup var server: ServerOptions

    func run() async throws {
        guard let payload = JSONValue.decodeJSON(Data(data.utf8)) else {
            throw ValidationError("--data must be JSON, got \(data)")
        }
        var request: [String: JSONValue] = [
            "blockId": .string(block), "service": .string(service), "mgmtCommand": .string(command), "mgmtData": payload,
        ]
        if let instance { request["instanceId"] = .string(instance) }
        let reply = try await server.client.post("/api/executeMgmtCommand", body: JSONValue.object(request).jsonData()).get()
        print(reply.jsonString(pretty: true))
        if reply["success"]?.boolValue == false { throw ExitCode(1) }
    }
}
