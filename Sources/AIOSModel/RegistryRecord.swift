import Foundation

/// A container registry (AIOS `containerRegistryId`): where images are pulled from, whether over TLS, and the
/// credentials, whose password is stored sealed (the registry never holds it in clear).
public struct RegistryRecord: Sendable, Equatable {
    public var id: String
    /// `http://host:port`, `https://host`, or a bare `host[:port]` (TLS).
    public var url: String
    public var tls: Bool
    public var username: String?
    /// The password, sealed by the platform's secret key.
    public var sealedPassword: Data?
    public var createdAt: Date

    public init(id: String, url: String, tls: Bool, username: String?, sealedPassword: Data?, createdAt: Date = Date()) {
        self.id = id
        self.url = url
        self.tls = tls
        self.username = username
        self.sealedPassword = sealedPassword
        self.createdAt = createdAt
    }

    /// `host[:port]`, as image references and auth files name the registry.
    public var host: String {
        var text = url
        for scheme in ["https://", "http://"] where text.hasPrefix(scheme) { text.removeFirst(scheme.count) }
        return String(text.split(separator: "/").first ?? Substring(text))
    }

    /// `POST /api/registries`: `{"containerRegistryId", "url", "tls"?, "username"?, "password"?}`. TLS defaults
    /// to off only for an `http://` URL. The password comes back in clear for the caller to seal.
    public static func read(_ document: JSONValue) throws(APIError) -> (record: RegistryRecord, password: String?) {
        guard let body = document.objectValue else {
            throw APIError.validation([FieldError(path: .root, message: "expected {\"containerRegistryId\", \"url\", \"username\", \"password\"}, got \(document.typeName)")])
        }
        var reader = FieldReader()
        let known: Set<String> = ["containerRegistryId", "url", "tls", "username", "password"]
        reader.rejectUnknownFields(body, known: known, at: .root)
        let id = reader.string(body, "containerRegistryId", at: .root, required: true)
        if let id, let problem = ResourceName.problem(id) { reader.fail(.root / "containerRegistryId", problem) }
        let url = reader.string(body, "url", at: .root, required: true)
        if let url {
            let rest = url.replacingOccurrences(of: "https://", with: "").replacingOccurrences(of: "http://", with: "")
            if rest.isEmpty || rest.contains(" ") || rest.hasPrefix("/") {
                reader.fail(.root / "url", "expected http://host:port, https://host or host[:port], got \"\(url)\"")
            }
        }
        let tls = reader.bool(body, "tls", at: .root) ?? !(url?.hasPrefix("http://") ?? false)
        let username = reader.string(body, "username", at: .root)
        let password = reader.string(body, "password", at: .root)
        if (username == nil) != (password == nil) {
            reader.fail(.root / (username == nil ? "username" : "password"), "username and password go together")
        }
        try reader.check()
        guard let id, let url else { throw APIError.validation(reader.errors) }
        return (RegistryRecord(id: id, url: url, tls: tls, username: username, sealedPassword: nil), password)
    }

    /// What the API shows: never the password.
    public var view: JSONValue {
        [
            "containerRegistryId": .string(id), "url": .string(url), "host": .string(host), "tls": .bool(tls),
            "username": username.map(JSONValue.string) ?? .null, "hasCredentials": .bool(sealedPassword != nil),
            "created": .string(ISO8601DateFormatter().string(from: createdAt)),
        ]
    }
}
