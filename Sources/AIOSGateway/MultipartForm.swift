import AIOSBlock
import Foundation
import Hummingbird
import NIOCore
import MultipartKit

/// A `multipart/form-data` body: its plain fields and its files.
public struct MultipartForm: Sendable {
    public struct File: Sendable {
        public var field: String
        public var filename: String?
        public var contentType: String?
        public var data: Data
    }

    public var fields: [String: String] = [:]
    public var files: [File] = []

    /// The boundary of a `multipart/form-data` content type, or `nil` for other types.
    public static func boundary(of contentType: String?) -> String? {
        guard let contentType, contentType.lowercased().hasPrefix("multipart/form-data") else { return nil }
        for parameter in contentType.split(separator: ";").dropFirst() {
            let pair = parameter.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            if pair.count == 2, pair[0].lowercased() == "boundary" {
                return pair[1].trimmingCharacters(in: CharacterSet(charactersIn: "\""))
            }
        }
        return nil
    }

    public static func parse(_ request: Request, boundary: String, limit: Int = 64 * 1024 * 1024) async throws(InferenceError) -> MultipartForm {
        var request = request
        let buffer: ByteBuffer
        do {
            buffer = try await request.collectBody(upTo: limit)
        } catch is NIOTooManyBytesError {
            throw InferenceError(.payloadTooLarge, "the body is larger than \(limit) bytes")
        } catch {
            throw InferenceError(.invalidArgument, "cannot read the body (at most \(limit) bytes): \(error)")
        }
        let parser = MultipartParser(boundary: boundary)
        var form = MultipartForm()
        var headers: [String: String] = [:]
        var body = Data()
        parser.onHeader = { name, value in headers[name.lowercased()] = value }
        parser.onBody = { chunk in body.append(contentsOf: chunk.readableBytesView) }
        parser.onPartComplete = {
            let disposition = Self.dispositionParameters(headers["content-disposition"] ?? "")
            let name = disposition["name"] ?? ""
            if let filename = disposition["filename"] {
                form.files.append(File(field: name, filename: filename, contentType: headers["content-type"], data: body))
            } else {
                form.fields[name] = String(decoding: body, as: UTF8.self)
            }
            headers = [:]
            body = Data()
        }
        do {
            try parser.execute(buffer)
        } catch {
            throw InferenceError(.invalidArgument, "the multipart body cannot be parsed: \(error)")
        }
        return form
    }

    /// `form-data; name="file"; filename="a.png"` → `["name": "file", "filename": "a.png"]`.
    static func dispositionParameters(_ header: String) -> [String: String] {
        var parameters: [String: String] = [:]
        for part in header.split(separator: ";").dropFirst() {
            let pair = part.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard pair.count == 2 else { continue }
            parameters[pair[0].lowercased()] = pair[1].trimmingCharacters(in: CharacterSet(charactersIn: "\""))
        }
        return parameters
    }
}
