import AIOSBlock
import AIOSModel
import AIOSWire
import Foundation
import Hummingbird
import Synchronization

/// The OpenAI-compatible surface: `POST /v1/chat/completions`, `POST /v1/completions`, `GET /v1/models`.
///
/// `model` is the block id. The whole request body goes to the block as the packet's `data`; the session
/// is `session_id` (or `user`, or the `X-Session-Id` header). The block's output becomes the completion:
/// a `choices` array is passed through; otherwise the text is the output's `reply` (AIOS's convention),
/// `content`, `text` or `token`, else the output data itself. `stream: true` is answered with server-sent
/// events from the instance's streaming `InferStream`, one chunk per output (one chunk when the block does
/// not stream), then `data: [DONE]`.
struct OpenAICompatibility {
    enum Kind {
        case chat
        case completion

        var object: String { self == .chat ? "chat.completion" : "text_completion" }
        var idPrefix: String { self == .chat ? "chatcmpl-" : "cmpl-" }
    }

    let gateway: InferenceGateway

    func complete(_ request: Request, kind: Kind) async -> Response {
        let body: [String: JSONValue]
        let blockId: String
        let packet: AIOSPacket
        let timeout: Duration?
        do throws(InferenceError) {
            body = try await RequestBody.jsonObject(request)
            guard let model = try RequestBody.string(body, "model"), !model.isEmpty else {
                throw InferenceError(.invalidArgument, "model is required: the id of the block to infer with")
            }
            blockId = model
            var built = AIOSPacket()
            let session = try RequestBody.string(body, "session_id")
            let user = try RequestBody.string(body, "user")
            built.sessionID = session ?? user ?? RequestBody.header(request, "X-Session-Id") ?? ""
            built.seqNo = try RequestBody.unsigned(body, "seq_no") ?? UInt64(Date().timeIntervalSince1970 * 1000)
            built.ts = Date().timeIntervalSince1970
            built.data = JSONValue.object(body).jsonString()
            packet = built
            timeout = try RequestBody.timeout(body, request)
        } catch {
            return error.response
        }
        let id = RandomID.make(prefix: kind.idPrefix, length: 24)
        let created = Int(Date().timeIntervalSince1970)
        if body["stream"]?.boolValue == true {
            do throws(InferenceError) {
                try await gateway.preflight(blockId: blockId)
            } catch {
                return error.response
            }
            return stream(blockId: blockId, packet: packet, timeout: timeout, kind: kind, id: id, created: created)
        }
        do throws(InferenceError) {
            let outputs = try await gateway.infer(blockId: blockId, packet: packet, clientTimeout: timeout)
            let output = Self.output(Replies.single(outputs, request: packet))
            var reply: [String: JSONValue] = [
                "id": .string(id), "object": .string(kind.object), "created": .number(Double(created)), "model": .string(blockId),
                "choices": output["choices"]?.arrayValue.map(JSONValue.array) ?? [Self.choice(kind, text: Self.text(of: output), streaming: false, first: true)],
                "usage": output["usage"] ?? ["prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0],
            ]
            if !packet.sessionID.isEmpty { reply["session_id"] = .string(packet.sessionID) }
            return .json(.object(reply))
        } catch {
            return error.response
        }
    }

    private func stream(blockId: String, packet: AIOSPacket, timeout: Duration?, kind: Kind, id: String, created: Int) -> Response {
        let (events, continuation) = AsyncStream<ByteBuffer>.makeStream()
        let gateway = self.gateway
        let chunkObject = kind == .chat ? "chat.completion.chunk" : "text_completion"
        @Sendable func event(_ value: JSONValue) -> ByteBuffer {
            ByteBuffer(string: "data: \(value.jsonString())\n\n")
        }
        @Sendable func chunk(_ choices: [JSONValue]) -> JSONValue {
            ["id": .string(id), "object": .string(chunkObject), "created": .number(Double(created)), "model": .string(blockId), "choices": .array(choices)]
        }
        let first = FirstFlag()
        let work = Task {
            do throws(InferenceError) {
                try await gateway.inferStream(blockId: blockId, packet: packet, clientTimeout: timeout) { outputs in
                    for output in outputs.map(Self.output) {
                        if let choices = output["choices"]?.arrayValue {
                            continuation.yield(event(chunk(choices)))
                        } else {
                            continuation.yield(event(chunk([Self.choice(kind, text: Self.text(of: output), streaming: true, first: first.take())])))
                        }
                    }
                }
                let last: JSONValue = kind == .chat
                    ? ["index": 0, "delta": [:], "finish_reason": "stop"]
                    : ["index": 0, "text": "", "logprobs": .null, "finish_reason": "stop"]
                continuation.yield(event(chunk([last])))
            } catch {
                continuation.yield(event(error.json))
            }
            continuation.yield(ByteBuffer(string: "data: [DONE]\n\n"))
            continuation.finish()
        }
        continuation.onTermination = { _ in work.cancel() }
        return Response(
            status: .ok,
            headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"],
            body: ResponseBody(asyncSequence: events))
    }

    func models() async -> Response {
        do {
            let blocks = try await gateway.directory.blocks()
            return .json([
                "object": "list",
                "data": .array(blocks.map { block in
                    ["id": .string(block.blockId), "object": "model", "created": .number(block.createdAt.rounded()), "owned_by": "aios",
                     "component": .string(block.componentURI), "phase": .string(block.phase)]
                }),
            ])
        } catch {
            return InferenceError(.internal, "cannot list blocks: \(error)").response
        }
    }

    // MARK: Shaping

    /// The output's data, parsed when it is JSON.
    static func output(_ packet: AIOSPacket) -> JSONValue {
        JSONValue.decodeJSON(Data(packet.data.utf8)) ?? .string(packet.data)
    }

    static func text(of output: JSONValue) -> String {
        if let text = output.stringValue { return text }
        for key in ["reply", "content", "text", "token", "delta"] {
            if let text = output[key]?.stringValue { return text }
        }
        return output.jsonString()
    }

    static func choice(_ kind: Kind, text: String, streaming: Bool, first: Bool) -> JSONValue {
        switch kind {
        case .chat:
            var message: [String: JSONValue] = ["content": .string(text)]
            if first || !streaming { message["role"] = "assistant" }
            return .object(["index": 0, streaming ? "delta" : "message": .object(message), "finish_reason": streaming ? .null : "stop"])
        case .completion:
            return ["index": 0, "text": .string(text), "logprobs": .null, "finish_reason": streaming ? .null : "stop"]
        }
    }

    /// True once: the first chunk of a chat stream carries the assistant role.
    final class FirstFlag: Sendable {
        private let taken = Mutex(false)
        func take() -> Bool {
            taken.withLock { taken in
                defer { taken = true }
                return !taken
            }
        }
    }
}
