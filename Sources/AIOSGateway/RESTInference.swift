import AIOSBlock
import AIOSModel
import AIOSWire
import Foundation
import Hummingbird

/// `POST /v1/infer`: the AIOS packet over HTTP.
///
/// JSON: `{"block_id" (or "model"), "session_id", "seq_no", "data" (text, or any JSON value, sent as its JSON
/// text), "files": [{"metadata", "file_data" (base64)}], "output_ptr", "timeout_ms"}`.
/// `multipart/form-data`: the same fields as form fields, and every file part as a file; a field
/// `<part>_metadata` is that file's metadata (AIOS's convention), else its name, filename and type are.
///
/// Reply: `{"success": true, "block_id", "session_id", "seq_no", "ts", "data", "files"}`, where `data` is
/// the block's output parsed when it is JSON.
public struct RESTInference: Sendable {
    let gateway: InferenceGateway

    func handle(_ request: Request) async -> Response {
        do throws(InferenceError) {
            let (blockId, packet, timeout) = try await Self.read(request)
            let headers = RequestView.policyHeaders(request.headers.map { ($0.name.rawName, $0.value) })
            let outputs = try await gateway.infer(blockId: blockId, packet: packet, clientTimeout: timeout, headers: headers)
            let reply = Replies.single(outputs, request: packet)
            return .json([
                "success": true, "block_id": .string(blockId), "session_id": .string(reply.sessionID),
                "seq_no": .number(Double(reply.seqNo)), "ts": .number(reply.ts),
                "data": JSONValue.decodeJSON(Data(reply.data.utf8)) ?? .string(reply.data),
                "output_ptr": .string(reply.outputPtr),
                "files": .array(reply.files.map { ["metadata": .string($0.metadata), "file_data": .string($0.fileData.base64EncodedString())] }),
            ])
        } catch {
            return error.response
        }
    }

    /// The packet, block id and client timeout of a `/v1/infer`-shaped request; with `requireBlock` false (a
    /// route that names its target in the path) the block id may be absent and is returned as "".
    public static func read(_ request: Request, requireBlock: Bool = true) async throws(InferenceError) -> (String, AIOSPacket, Duration?) {
        var packet = AIOSPacket()
        packet.ts = Date().timeIntervalSince1970
        let blockId: String?
        var timeout: Duration?
        if let boundary = MultipartForm.boundary(of: request.headers[.contentType]) {
            let form = try await MultipartForm.parse(request, boundary: boundary)
            blockId = form.fields["block_id"] ?? form.fields["model"]
            packet.sessionID = form.fields["session_id"] ?? ""
            if let seq = form.fields["seq_no"] {
                guard let number = UInt64(seq) else { throw InferenceError(.invalidArgument, "seq_no must be a non-negative integer, got \(seq)") }
                packet.seqNo = number
            }
            packet.data = form.fields["data"] ?? ""
            packet.outputPtr = form.fields["output_ptr"] ?? ""
            if let milliseconds = form.fields["timeout_ms"] {
                guard let number = Int64(milliseconds), number > 0, number <= 86_400_000 else { throw InferenceError(.invalidArgument, "timeout_ms must be a positive integer, got \(milliseconds)") }
                timeout = .milliseconds(number)
            }
            packet.files = form.files.map { file in
                var info = FileInfo()
                info.metadata = form.fields["\(file.field)_metadata"] ?? JSONValue.object([
                    "name": .string(file.field), "filename": file.filename.map(JSONValue.string) ?? .null,
                    "content_type": file.contentType.map(JSONValue.string) ?? .null, "size": .number(Double(file.data.count)),
                ]).jsonString()
                info.fileData = file.data
                return info
            }
        } else {
            let body = try await RequestBody.jsonObject(request)
            if let named = try RequestBody.string(body, "block_id") {
                blockId = named
            } else {
                blockId = try RequestBody.string(body, "model")
            }
            packet.sessionID = try RequestBody.string(body, "session_id") ?? ""
            packet.seqNo = try RequestBody.unsigned(body, "seq_no") ?? 0
            packet.outputPtr = try RequestBody.string(body, "output_ptr") ?? ""
            switch body["data"] {
            case .none, .null?: packet.data = ""
            case .string(let text)?: packet.data = text
            case let value?: packet.data = value.jsonString()
            }
            packet.files = try files(body["files"])
            timeout = try RequestBody.timeout(body, request)
        }
        guard let blockId, !blockId.isEmpty else {
            if !requireBlock { return ("", packet, timeout) }
            throw InferenceError(.invalidArgument, "block_id is required: the id of the block to infer with")
        }
        return (blockId, packet, timeout)
    }

    private static func files(_ value: JSONValue?) throws(InferenceError) -> [FileInfo] {
        guard let value, !value.isNull else { return [] }
        guard let array = value.arrayValue else { throw InferenceError(.invalidArgument, "files must be an array of {metadata, file_data}") }
        var files: [FileInfo] = []
        for (index, entry) in array.enumerated() {
            var info = FileInfo()
            switch entry["metadata"] {
            case .string(let text)?: info.metadata = text
            case .none, .null?: info.metadata = "{}"
            case let value?: info.metadata = value.jsonString()
            }
            guard let encoded = entry["file_data"]?.stringValue, let data = Data(base64Encoded: encoded) else {
                throw InferenceError(.invalidArgument, "files[\(index)].file_data must be base64 text")
            }
            info.fileData = data
            files.append(info)
        }
        return files
    }
}
