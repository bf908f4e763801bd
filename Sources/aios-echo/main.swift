import AIOSInstanceSDK
import AIOSModel
import Foundation

/// The Swift example block: uppercases text. `{"text": "hi"}` → `{"text": "HI", ...}`; streams one word per
/// chunk on `InferStream`; `{"fail": true}` raises (to show error replies); management commands `env`
/// (the instance's AIOS and GPU environment) and `crash` (exits, to show supervision).
struct EchoBlock: InstanceBlock {
    let context: InstanceContext

    init(context: InstanceContext) async throws {
        self.context = context
    }

    struct AskedToFail: Error, CustomStringConvertible {
        var description: String { "the request asked the echo block to fail" }
    }

    private func text(of entry: PreprocessResult) throws -> String {
        if let json = entry.json {
            if json["fail"]?.boolValue == true { throw AskedToFail() }
            if let text = json["text"]?.stringValue { return text }
        }
        return entry.packet.data
    }

    func infer(_ entry: PreprocessResult) async throws -> JSONValue? {
        let text = try text(of: entry)
        return ["text": .string(text.uppercased()), "length": .number(Double(text.count)),
                "instanceId": .string(context.instanceId), "sessionId": .string(entry.sessionId)]
    }

    func inferStream(_ entry: PreprocessResult) -> AsyncThrowingStream<JSONValue, any Error>? {
        guard entry.json?["stream"]?.boolValue == true else { return nil }
        let words = ((try? text(of: entry)) ?? "").split(separator: " ").map { String($0).uppercased() }
        return AsyncThrowingStream { continuation in
            for word in words { continuation.yield(["token": .string(word)]) }
            continuation.finish()
        }
    }

    func manage(action: String, data: JSONValue) async throws -> JSONValue {
        switch action {
        case "env":
            let environment = ProcessInfo.processInfo.environment
            return .object(Dictionary(uniqueKeysWithValues: ["AIOS_BLOCK_ID", "AIOS_INSTANCE_ID", "AIOS_LISTEN", "CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES"]
                .map { ($0, environment[$0].map(JSONValue.string) ?? .null) }))
        case "crash":
            FileHandle.standardError.write(Data("echo: crashing on request\n".utf8))
            exit(3)
        default:
            throw InstanceError(.invalidArgument, "unknown action \"\(action)\"; this block knows env and crash")
        }
    }
}

try await InstanceMain.run(EchoBlock.self)
