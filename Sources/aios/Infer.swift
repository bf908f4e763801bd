import AIOSModel
import ArgumentParser
import Foundation

struct Infer: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Send one request to a block through the gateway (`POST /v1/infer`) and print its output.")

    @Argument(help: "The block id.")
    var block: String

    @Option(help: "The input: JSON (sent as its text) or plain text.")
    var data: String = ""

    @Option(name: .customLong("file"), help: "Attach a file (repeatable); its metadata is its name and size.")
    var files: [String] = []

    @Option(help: "Session id: requests of one session stay on one instance.")
    var session: String = ""

    @Option(help: "Sequence number.")
    var seq: UInt64 = 0

    @Option(help: "Deadline in milliseconds (the block's initSettings.timeout_ms caps it).")
    var timeoutMs: Int?

    @OptionGroup var server: ServerOptions

    func validate() throws {
        if let timeoutMs, timeoutMs <= 0 { throw ValidationError("--timeout-ms must be positive") }
        for file in files where !FileManager.default.isReadableFile(atPath: file) {
            throw ValidationError("--file \(file): no such readable file")
        }
    }

    func run() async throws {
        var request: [String: JSONValue] = [
            "block_id": .string(block), "session_id": .string(session), "seq_no": .number(Double(seq)), "data": .string(data),
        ]
        if let timeoutMs { request["timeout_ms"] = .number(Double(timeoutMs)) }
        if !files.isEmpty {
            request["files"] = .array(try files.map { path in
                let contents = try Data(contentsOf: URL(fileURLWithPath: path))
                return ["metadata": JSONValue.object(["file_name": .string((path as NSString).lastPathComponent), "size": .number(Double(contents.count))]),
                        "file_data": .string(contents.base64EncodedString())]
            })
        }
        let reply = try await server.client.post("/v1/infer", body: JSONValue.object(request).jsonData())
        guard reply.isSuccess else {
            let error = reply.body["error"]
            throw GatewayFailure(code: error?["code"]?.stringValue ?? "HTTP \(reply.status)",
                                 message: error?["message"]?.stringValue ?? reply.body.jsonString())
        }
        print((reply.body["data"] ?? .null).jsonString(pretty: true))
    }

    struct GatewayFailure: Error, CustomStringConvertible {
        var code: String
        var message: String
        var description: String { "\(code): \(message)" }
    }
}
