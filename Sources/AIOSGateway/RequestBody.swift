import AIOSBlock
import AIOSModel
import Foundation
import Hummingbird
import NIOCore

/// Reading inference requests over HTTP.
enum RequestBody {
    static let maxBytes = 64 * 1024 * 1024

    /// The body as one JSON object.
    static func jsonObject(_ request: Request) async throws(InferenceError) -> [String: JSONValue] {
        var request = request
        let buffer: ByteBuffer
        do {
            buffer = try await request.collectBody(upTo: maxBytes)
        } catch is NIOTooManyBytesError {
            throw InferenceError(.payloadTooLarge, "the body is larger than \(RequestBody.maxBytes) bytes")
        } catch {
            throw InferenceError(.invalidArgument, "cannot read the body (at most \(maxBytes) bytes): \(error)")
        }
        let value: JSONValue
        do {
            value = try JSONValue.parseJSON(Data(buffer.readableBytesView))
        } catch {
            throw InferenceError(.invalidArgument, "the body is not valid JSON: \(error.fields.first?.description ?? error.message)")
        }
        guard let object = value.objectValue else {
            throw InferenceError(.invalidArgument, "the body must be a JSON object, got \(value.typeName)")
        }
        return object
    }

    /// A request header's value (names compare case-insensitively).
    static func header(_ request: Request, _ name: String) -> String? {
        let wanted = name.lowercased()
        return request.headers.first { $0.name.canonicalName == wanted }?.value
    }

    /// A field that must be a string, or absent.
    static func string(_ object: [String: JSONValue], _ key: String) throws(InferenceError) -> String? {
        guard let value = object[key], !value.isNull else { return nil }
        guard let text = value.stringValue else {
            throw InferenceError(.invalidArgument, "\(key) must be a string, got \(value.typeName)")
        }
        return text
    }

    /// A field that must be a non-negative integer (or its decimal text), or absent.
    static func unsigned(_ object: [String: JSONValue], _ key: String) throws(InferenceError) -> UInt64? {
        guard let value = object[key], !value.isNull else { return nil }
        if let number = value.intValue, number >= 0 { return UInt64(number) }
        if let text = value.stringValue, let number = UInt64(text) { return number }
        throw InferenceError(.invalidArgument, "\(key) must be a non-negative integer, got \(value.jsonString())")
    }

    /// `timeout_ms` from the body, or the `X-Request-Timeout-Ms` header.
    static func timeout(_ object: [String: JSONValue], _ request: Request) throws(InferenceError) -> Duration? {
        if let milliseconds = try unsigned(object, "timeout_ms") {
            guard milliseconds > 0, let exact = Int64(exactly: min(milliseconds, 86_400_000)) else {
                throw InferenceError(.invalidArgument, "timeout_ms must be a positive number of milliseconds, got \(milliseconds)")
            }
            return .milliseconds(exact)
        }
        if let header = header(request, "X-Request-Timeout-Ms") {
            guard let milliseconds = Int64(header), milliseconds > 0, milliseconds <= 86_400_000 else {
                throw InferenceError(.invalidArgument, "X-Request-Timeout-Ms must be a positive integer, got \(header)")
            }
            return .milliseconds(milliseconds)
        }
        return nil
    }
}
