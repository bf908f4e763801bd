import AIOSModel
import Foundation
import Hummingbird

extension Response {
    /// A JSON reply.
    static func json(_ value: JSONValue, status: HTTPResponse.Status = .ok) -> Response {
        var body = value.jsonData()
        body.append(0x0A)
        return Response(
            status: status,
            headers: [.contentType: "application/json; charset=utf-8"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: body)))
    }

    static func error(_ error: APIError) -> Response {
        json(error.json, status: HTTPResponse.Status(code: error.httpStatus))
    }
}
