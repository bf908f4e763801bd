import AIOSInstanceSDK
import AIOSModel
import Foundation
import Synchronization

/// The Swift example block: uppercases text. `{"text": "hi"}` → `{"text": "HI", ...}`; an OpenAI-style body
/// uppercases its last message (`messages`) or its `prompt`; streams one word per chunk on `InferStream`
/// when the input says `"stream": true`; `{"fail": true}` raises (to show error replies); `{"sleep_ms": N}`
/// answers after N ms (to show deadlines and queueing); `{"burn_ms": N}` keeps a CPU busy for N ms (to show
/// autoscaling); attached files are described in the output;
/// management commands `env` (the instance's AIOS and GPU environment), `block_data` (its blockInitData and
/// initSettings as received), `crash` (exits, to show
/// supervision) and `set_health` (`{"status": "unhealthy"}` makes `health()` say so, `"hang"` makes it not
/// answer, to show the stability checker).
struct EchoBlock: InstanceBlock {
    let context: InstanceContext
    let healthStatus = HealthFlag()

    /// What `health()` answers; `set_health` changes it.
    final class HealthFlag: Sendable {
        private let status = Mutex("healthy")
        var value: String { status.withLock { $0 } }
        func set(_ value: String) { status.withLock { $0 = value } }
    }

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
            if let last = json["messages"]?.arrayValue?.last?["content"]?.stringValue { return last }
            if let prompt = json["prompt"]?.stringValue { return prompt }
        }
        return entry.packet.data
    }

    func infer(_ entry: PreprocessResult) async throws -> JSONValue? {
        if let milliseconds = entry.json?["sleep_ms"]?.intValue, milliseconds > 0 {
            try await Task.sleep(for: .milliseconds(milliseconds))
        }
        if let milliseconds = entry.json?["burn_ms"]?.intValue, milliseconds > 0 {
            let end = ContinuousClock.now + .milliseconds(milliseconds)
            var spin = 0
            while ContinuousClock.now < end { spin &+= 1 }
        }
        let text = try text(of: entry)
        return ["text": .string(text.uppercased()), "length": .number(Double(text.count)),
                "instanceId": .string(context.instanceId), "sessionId": .string(entry.sessionId),
                "files": .array(entry.packet.files.map { ["metadata": .string($0.metadata), "size": .number(Double($0.fileData.count))] })]
    }

    func inferStream(_ entry: PreprocessResult) -> AsyncThrowingStream<JSONValue, any Error>? {
        guard entry.json?["stream"]?.boolValue == true else { return nil }
        let words = ((try? text(of: entry)) ?? "").split(separator: " ").map { String($0).uppercased() }
        return AsyncThrowingStream { continuation in
            for (index, word) in words.enumerated() {
                continuation.yield(["token": .string(index == words.count - 1 ? word : word + " ")])
            }
            continuation.finish()
        }
    }

    func health() async -> HealthStatus {
        // "hang": no answer at all (a stuck instance), for as long as a probe waits.
        if healthStatus.value == "hang" { try? await Task.sleep(for: .seconds(120)) }
        return HealthStatus(status: healthStatus.value)
    }

    func manage(action: String, data: JSONValue) async throws -> JSONValue {
        switch action {
        case "env":
            let environment = ProcessInfo.processInfo.environment
            return .object(Dictionary(uniqueKeysWithValues: ["AIOS_BLOCK_ID", "AIOS_INSTANCE_ID", "AIOS_LISTEN", "CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES"]
                .map { ($0, environment[$0].map(JSONValue.string) ?? .null) }))
        case "block_data":
            // What the platform handed this instance (secrets opened): for the tests of sealed secrets.
            return ["blockInitData": .object(context.blockInitData), "initSettings": .object(context.initSettings)]
        case "set_health":
            let status = data["status"]?.stringValue ?? "healthy"
            healthStatus.set(status)
            return ["status": .string(status)]
        case "crash":
            FileHandle.standardError.write(Data("echo: crashing on request\n".utf8))
            exit(3)
        default:
            throw InstanceError(.invalidArgument, "unknown action \"\(action)\"; this block knows env, block_data, set_health and crash")
        }
    }
}

try await InstanceMain.run(EchoBlock.self)
