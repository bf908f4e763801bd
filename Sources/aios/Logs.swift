import AIOSModel
import ArgumentParser
import Foundation

struct Logs: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show a block's instance logs (standard output and error).")

    enum Resource: String, ExpressibleByArgument { case block }

    @Argument(help: "block")
    var resource: Resource

    @Argument(help: "The block id.")
    var id: String

    @Option(help: "Only this instance.")
    var instance: String?

    @Option(help: "Lines to show from the end of each log.")
    var tail = 100

    @Flag(name: .shortAndLong, help: "Keep printing what the instances write.")
    var follow = false

    @OptionGroup var server: ServerOptions

    func run() async throws {
        let encoded = id.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? id
        var query = "tail=\(tail)"
        if let instance { query += "&instance=\(instance.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed) ?? instance)" }
        let chunks = try await server.client.get("/api/blocks/\(encoded)/logs?\(query)").get().arrayValue ?? []
        var offsets: [String: Int] = [:]
        for chunk in chunks {
            let instanceId = chunk["instanceId"]?.stringValue ?? "?"
            Self.print(chunk["text"]?.stringValue ?? "", prefix: chunks.count > 1 ? "[\(instanceId)] " : "")
            offsets[instanceId] = chunk["nextOffset"]?.intValue ?? 0
        }
        guard follow else { return }
        while !Task.isCancelled {
            try await Task.sleep(for: .milliseconds(500))
            for (instanceId, offset) in offsets.sorted(by: { $0.key < $1.key }) {
                let reply = try await server.client.get("/api/blocks/\(encoded)/logs?instance=\(instanceId)&offset=\(offset)").get()
                guard let chunk = reply.arrayValue?.first else { continue }
                Self.print(chunk["text"]?.stringValue ?? "", prefix: offsets.count > 1 ? "[\(instanceId)] " : "")
                offsets[instanceId] = chunk["nextOffset"]?.intValue ?? offset
            }
        }
    }

    static func print(_ text: String, prefix: String) {
        guard !text.isEmpty else { return }
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        let body = lines.enumerated().map { index, line in
            index == lines.count - 1 && line.isEmpty ? "" : prefix + line + "\n"
        }.joined()
        FileHandle.standardOutput.write(Data(body.utf8))
    }
}
