import AIOSModel
import ArgumentParser
import Foundation

struct Delete: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Remove a block: stop its instances, release its resources, drop its record.")

    enum Resource: String, ExpressibleByArgument { case block }

    @Argument(help: "block")
    var resource: Resource

    @Argument(help: "The block id.")
    var id: String

    @OptionGroup var server: ServerOptions

    func run() async throws {
        let request: JSONValue = ["blockId": .string(id)]
        let reply = try await server.client.post("/api/removeBlock", body: request.jsonData()).get()
        print("block \(id) removed (task \(reply["task_id"]?.stringValue ?? "-"))")
    }
}
