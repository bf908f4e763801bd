import AIOSBlock
import AIOSGateway
import AIOSModel
import AIOSWire
import Foundation
import Logging

/// The decode loop over a split model's vDAG (`docs/model-plan.md` §5): the turn goes through the chain once
/// (prefill, answered with the first token), then one call per token at the position the last split returned,
/// until it says `eos` or `max_tokens` tokens are kept. The client's timeout bounds the whole generation. A
/// split that lost the session (it restarted, or evicted it) answers "position mismatch" / "has no context";
/// the turn and the tokens kept so far are then prefilled again, at most `maxRecoveries` times. However the
/// generation ends (the client gone included), `release` drops the session's KV caches in every split, in a
/// task of its own that the request's cancellation does not reach.
public struct SplitGenerator: TextGenerator {
    public typealias Step = @Sendable (AIOSPacket, Duration?) async throws(InferenceError) -> AIOSPacket

    public static let defaultMaxTokens = 128
    public static let maxTokensLimit = 4096
    static let recoverable = ["position mismatch", "has no context"]

    let step: Step
    let release: @Sendable (String) async -> Void
    let maxRecoveries: Int
    let logger: Logger

    public init(maxRecoveries: Int = 2, logger: Logger = Logger(label: "aios.splits"), step: @escaping Step,
                release: @escaping @Sendable (String) async -> Void) {
        self.step = step
        self.release = release
        self.maxRecoveries = maxRecoveries
        self.logger = logger
    }

    /// What one request asks for.
    struct Request {
        var turn: JSONValue
        var maxTokens: Int
        var sampling: [String: JSONValue]

        init(_ body: [String: JSONValue]) throws(InferenceError) {
            if let messages = body["messages"], !messages.isNull {
                guard let list = messages.arrayValue, !list.isEmpty else {
                    throw InferenceError(.invalidArgument, "messages must be a non-empty array of {role, content}")
                }
                turn = ["messages": .array(list)]
            } else if let prompt = body["prompt"]?.stringValue {
                turn = ["prompt": .string(prompt)]
            } else {
                throw InferenceError(.invalidArgument, "messages (chat) or prompt (completion) is required")
            }
            let requested = body["max_tokens"] ?? body["max_completion_tokens"]
            if let requested, !requested.isNull {
                guard let value = requested.intValue, value >= 1, value <= SplitGenerator.maxTokensLimit else {
                    throw InferenceError(.invalidArgument, "max_tokens must be an integer from 1 to \(SplitGenerator.maxTokensLimit), got \(requested.jsonString())")
                }
                maxTokens = value
            } else {
                maxTokens = SplitGenerator.defaultMaxTokens
            }
            sampling = [:]
            for key in ["temperature", "seed", "top_k"] {
                if let value = body[key], !value.isNull { sampling[key] = value }
            }
        }
    }

    public func generate(_ body: [String: JSONValue], session: String, clientTimeout: Duration?,
                         onText: @escaping @Sendable (String) async -> Void) async throws(InferenceError) -> TextGeneration {
        let request = try Request(body)
        // Each generation has a session of its own in the splits: concurrent requests of one client never
        // share a KV cache.
        let sessionId = (session.isEmpty ? "gen" : session) + "::" + RandomID.make(prefix: "", length: 10)
        var seqNo: UInt64 = 0
        let deadline = clientTimeout.map { ContinuousClock.now + $0 }
        func call(_ data: [String: JSONValue]) async throws(InferenceError) -> (token: Int, text: String, eos: Bool, position: Int) {
            seqNo += 1
            var packet = AIOSPacket()
            packet.sessionID = sessionId
            packet.seqNo = seqNo
            packet.ts = Date().timeIntervalSince1970
            packet.data = JSONValue.object(data.merging(request.sampling) { own, _ in own }).jsonString()
            if Task.isCancelled { throw InferenceError(.cancelled, "the client went away") }
            var remaining: Duration?
            if let deadline {
                remaining = ContinuousClock.now.duration(to: deadline)
                guard let left = remaining, left > .zero else {
                    throw InferenceError(.deadlineExceeded, "the generation did not finish within the request's timeout (\(kept.count) tokens generated)")
                }
            }
            let reply = try await step(packet, remaining)
            guard case .object(let out)? = JSONValue.decodeJSON(Data(reply.data.utf8)),
                  let token = out["token"]?.intValue, let position = out["position"]?.intValue else {
                throw InferenceError(.internal, "the last split answered \(reply.data.prefix(200)), not {\"token\", \"text\", \"eos\", \"position\"}: is the vDAG a split model's chain?")
            }
            return (token, out["text"]?.stringValue ?? "", out["eos"]?.boolValue ?? false, position)
        }
        let turn = request.turn.objectValue ?? [:]
        var kept: [Int] = []
        var text = ""
        var recoveries = 0
        var finish = "length"
        var promptTokens = 0
        do throws(InferenceError) {
            var out = try await call(turn)
            promptTokens = out.position
            while true {
                if out.eos {
                    finish = "stop"
                    break
                }
                kept.append(out.token)
                text += out.text
                if !out.text.isEmpty { await onText(out.text) }
                if kept.count >= request.maxTokens { break }
                do throws(InferenceError) {
                    out = try await call(["token": .number(Double(out.token)), "position": .number(Double(out.position))])
                } catch where Self.isRecoverable(error) && recoveries < maxRecoveries {
                    recoveries += 1
                    logger.warning("a split lost the generation's session: re-prefill of the turn and \(kept.count) kept tokens",
                                   metadata: ["session": "\(sessionId)", "error": "\(error.message)"])
                    // The turn again, then every token kept so far after it: the splits' caches are rebuilt.
                    let first = try await call(turn)
                    out = try await call(["tokens": .array(kept.map { .number(Double($0)) }), "position": .number(Double(first.position))])
                }
            }
        } catch {
            Task { await release(sessionId) }
            throw error
        }
        Task { await release(sessionId) }
        return TextGeneration(text: text, promptTokens: promptTokens, completionTokens: kept.count, finishReason: finish)
    }

    static func isRecoverable(_ error: InferenceError) -> Bool {
        error.code == .invalidArgument && recoverable.contains { error.message.contains($0) }
    }
}
