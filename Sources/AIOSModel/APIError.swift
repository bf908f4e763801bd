/// One bad field in a submitted document.
public struct FieldError: Sendable, Equatable, Codable, CustomStringConvertible {
    public var path: String
    public var message: String

    public init(path: FieldPath, message: String) {
        self.path = path.description
        self.message = message
    }

    public init(path: String, message: String) {
        self.path = path
        self.message = message
    }

    public var description: String { "\(path): \(message)" }
}

/// An error the API reports to its caller: an HTTP status, a stable code, a message and the bad fields.
///
/// Serialised as `{"success": false, "error": {"code", "message", "fields": [{"path", "message"}]}}`.
public struct APIError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable, Codable {
        case invalidDocument = "invalid_document"
        case validationFailed = "validation_failed"
        case notFound = "not_found"
        case conflict = "conflict"
        case unknownAction = "unknown_action"
        case payloadTooLarge = "payload_too_large"
        case unsupportedMediaType = "unsupported_media_type"
        /// No valid bearer token (missing, unknown, revoked or expired).
        case unauthenticated = "unauthenticated"
        /// A valid token without the scope the request needs, or a request a browser page of another origin made.
        case forbidden = "forbidden"
        /// The body did not arrive within the read deadline.
        case requestTimeout = "request_timeout"
        case internalError = "internal_error"
        /// What the request needs cannot run on this host (e.g. custom policies without a sandbox).
        case unavailable = "unavailable"
    }

    public var code: Code
    public var message: String
    public var fields: [FieldError]

    public init(_ code: Code, _ message: String, fields: [FieldError] = []) {
        self.code = code
        self.message = message
        self.fields = fields
    }

    public var httpStatus: Int {
        switch code {
        case .invalidDocument, .validationFailed: 400
        case .notFound, .unknownAction: 404
        case .conflict: 409
        case .unauthenticated: 401
        case .forbidden: 403
        case .requestTimeout: 408
        case .unavailable: 503
        case .payloadTooLarge: 413
        case .unsupportedMediaType: 415
        case .internalError: 500
        }
    }

    public static func validation(_ fields: [FieldError], message: String? = nil) -> APIError {
        let summary = message ?? (fields.count == 1
            ? "invalid field \(fields[0].path): \(fields[0].message)"
            : "\(fields.count) invalid fields: " + fields.map(\.path).joined(separator: ", "))
        return APIError(.validationFailed, summary, fields: fields)
    }

    public var description: String {
        // A one-field summary already names its field; longer lists are spelled out under the message.
        if fields.count == 1, message.contains(fields[0].path) { return message }
        return ([message] + fields.map { "  \($0.path): \($0.message)" }).joined(separator: "\n")
    }

    public var json: JSONValue {
        .object([
            "success": false,
            "error": .object([
                "code": .string(code.rawValue),
                "message": .string(message),
                "fields": .array(fields.map { .object(["path": .string($0.path), "message": .string($0.message)]) }),
            ]),
        ])
    }

    /// Reads the error form back from a reply body (used by the CLI).
    public init?(json: JSONValue) {
        guard let error = json["error"]?.objectValue,
              let message = error["message"]?.stringValue else { return nil }
        self.code = error["code"]?.stringValue.flatMap(Code.init(rawValue:)) ?? .internalError
        self.message = message
        self.fields = (error["fields"]?.arrayValue ?? []).compactMap { field in
            guard let path = field["path"]?.stringValue, let message = field["message"]?.stringValue else { return nil }
            return FieldError(path: path, message: message)
        }
    }
}
