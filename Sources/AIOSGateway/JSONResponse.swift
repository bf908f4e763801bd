import AIOSBlock
import AIOSModel
import Foundation
import Hummingbird

extension Response {
    /// A JSON reply.
    public static func json(_ value: JSONValue, status: HTTPResponse.Status = .ok) -> Response {
        var body = value.jsonData()
        body.append(0x0A)
        return Response(
            status: status,
            headers: [.contentType: "application/json; charset=utf-8"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: body)))
    }
}

extension InferenceError {
    /// The REST error form: AIOS's `{"success": false, ...}` with an `error` object that OpenAI clients read too.
    public var json: JSONValue {
        ["success": false, "error": ["code": .string(code.rawValue), "message": .string(message), "type": .string(openAIType)]]
    }

    var openAIType: String {
        switch code {
        case .invalidArgument, .notFound: "invalid_request_error"
        case .resourceExhausted: "rate_limit_error"
        default: "server_error"
        }
    }

    public var response: Response {
        .json(json, status: HTTPResponse.Status(code: httpStatus))
    }
}
