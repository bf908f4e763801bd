import AIOSModel
import AIOSStore
import Crypto
import Foundation
import Logging
import Synchronization

/// Issues, verifies and revokes the platform's bearer tokens.
///
/// Tokens read `aios_<id>_<secret>`; the registry keeps only the SHA-256 of the secret. Every record is held in
/// memory too, so a check costs a hash and a dictionary lookup (it runs on every request and RPC), and a
/// revocation takes effect at once.
public final class TokenAuthority: Sendable {
    /// The id of the token `aios up` writes into `DATA_DIR/tokens/admin.token`.
    public static let adminTokenId = "admin"

    private let registry: any Registry
    private let records: Mutex<[String: AccessTokenRecord]>

    private init(registry: any Registry, records: [AccessTokenRecord]) {
        self.registry = registry
        self.records = Mutex(Dictionary(records.map { ($0.id, $0) }, uniquingKeysWith: { _, last in last }))
    }

    /// Loads the stored tokens and makes sure the admin token file and its record agree: the file is made (with
    /// a new token, replacing the old admin record) when it is missing, and its record is restored when the file
    /// is there but the registry does not know it. Returns the authority and whether the file was made now.
    public static func load(registry: any Registry, adminTokenFile: URL) async throws -> (TokenAuthority, createdAdminToken: Bool) {
        let manager = FileManager.default
        let directory = adminTokenFile.deletingLastPathComponent()
        try manager.createDirectory(at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        try manager.setAttributes([.posixPermissions: 0o700], ofItemAtPath: directory.path)
        var created = false
        var token: String
        if let text = manager.contents(atPath: adminTokenFile.path).map({ String(decoding: $0, as: UTF8.self) }),
           let parsed = ParsedToken(text.trimmingCharacters(in: .whitespacesAndNewlines)), parsed.id == adminTokenId {
            token = parsed.text
            try manager.setAttributes([.posixPermissions: 0o600], ofItemAtPath: adminTokenFile.path)
        } else {
            token = ParsedToken.make(id: adminTokenId).text
            let temporary = directory.appendingPathComponent(".admin.token.\(getpid())")
            guard manager.createFile(atPath: temporary.path, contents: Data((token + "\n").utf8), attributes: [.posixPermissions: 0o600]) else {
                throw TokenAuthorityError("cannot write the admin token file \(adminTokenFile.path)")
            }
            guard rename(temporary.path, adminTokenFile.path) == 0 else {
                throw TokenAuthorityError("cannot write the admin token file \(adminTokenFile.path): \(String(cString: strerror(errno)))")
            }
            created = true
        }
        let parsed = ParsedToken(token)!
        var stored = try await registry.accessTokens()
        if !stored.contains(where: { $0.id == adminTokenId && $0.secretHash == parsed.secretHash }) {
            let admin = AccessTokenRecord(id: adminTokenId, name: "admin token of aios up (\(adminTokenFile.path))",
                                          scopes: [.admin], clusterId: nil, secretHash: parsed.secretHash)
            try await registry.putAccessToken(admin)
            stored.removeAll { $0.id == adminTokenId }
            stored.append(admin)
        }
        return (TokenAuthority(registry: registry, records: stored), created)
    }

    /// The record of a presented token, or why it is refused. The reason is for the log, never for the caller.
    public func verify(_ token: String, now: Date = Date()) -> Result<AccessTokenRecord, TokenRefusal> {
        guard let parsed = ParsedToken(token) else { return .failure(.malformed) }
        guard let record = records.withLock({ $0[parsed.id] }) else { return .failure(.unknown(id: parsed.id)) }
        guard ConstantTime.equal(record.secretHash, parsed.secretHash) else { return .failure(.wrongSecret(id: parsed.id)) }
        if record.isExpired(at: now) { return .failure(.expired(id: parsed.id)) }
        return .success(record)
    }

    /// Issues a token; the token text is returned once and never stored.
    public func issue(_ request: TokenRequest) async throws -> (record: AccessTokenRecord, token: String) {
        var id: String
        repeat {
            id = ParsedToken.randomHex(bytes: 8)
        } while records.withLock({ $0[id] != nil })
        let token = ParsedToken.make(id: id)
        let record = AccessTokenRecord(id: id, name: request.name, scopes: request.scopes, clusterId: request.clusterId,
                                       secretHash: token.secretHash, expiresAt: request.expiresAt)
        try await registry.putAccessToken(record)
        records.withLock { $0[id] = record }
        return (record, token.text)
    }

    /// Revokes a token at once. The admin token of `aios up` is revoked by removing its file and restarting.
    public func revoke(id: String) async throws {
        guard id != Self.adminTokenId else {
            throw APIError(.conflict, "the admin token cannot be revoked through the API; remove DATA_DIR/tokens/admin.token and restart aios up to replace it")
        }
        // Out of the cache first: from here on the token is refused, whatever the store does.
        let removed = records.withLock { $0.removeValue(forKey: id) }
        guard removed != nil else { throw APIError(.notFound, "token \"\(id)\" does not exist") }
        try await registry.deleteAccessToken(id: id)
    }

    public func list() -> [AccessTokenRecord] {
        records.withLock { Array($0.values) }.sorted { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) }
    }

}

/// Why a presented token was refused (logged in the audit log; the caller only hears 401).
public enum TokenRefusal: Error, Sendable, CustomStringConvertible {
    case malformed
    case unknown(id: String)
    case wrongSecret(id: String)
    case expired(id: String)

    public var description: String {
        switch self {
        case .malformed: "not an aios token"
        case .unknown(let id): "token \(id) is unknown or revoked"
        case .wrongSecret(let id): "token \(id) presented with a wrong secret"
        case .expired(let id): "token \(id) has expired"
        }
    }

    /// The token id the request claimed, when it named one.
    public var claimedId: String? {
        switch self {
        case .malformed: nil
        case .unknown(let id), .wrongSecret(let id), .expired(let id): id
        }
    }
}

/// `aios_<id>_<secret>`: id and secret are lowercase hex.
public struct ParsedToken: Sendable {
    public let text: String
    public let id: String
    public let secretHash: String

    public init?(_ text: String) {
        let parts = text.split(separator: "_", omittingEmptySubsequences: false)
        guard text.utf8.count <= 200, parts.count == 3, parts[0] == "aios",
              !parts[1].isEmpty, parts[1].count <= 32, parts[1].allSatisfy({ $0.isLetter || $0.isNumber }),
              parts[2].count == 64, parts[2].allSatisfy(\.isHexDigit) else { return nil }
        self.text = text
        self.id = String(parts[1])
        self.secretHash = SHA256.hash(data: Data(parts[2].utf8)).map { String(format: "%02x", $0) }.joined()
    }

    public static func make(id: String) -> ParsedToken {
        ParsedToken("aios_\(id)_\(randomHex(bytes: 32))")!
    }

    public static func randomHex(bytes: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<bytes).map { _ in String(format: "%02x", UInt8.random(in: .min ... .max, using: &generator)) }.joined()
    }
}

public struct TokenAuthorityError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
