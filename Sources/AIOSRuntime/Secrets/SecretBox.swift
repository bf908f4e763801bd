import Crypto
import Foundation

/// Seals secrets stored in the registry (container registries' passwords) with AES-GCM under a key kept in
/// the data directory (`secrets/secret.key`, 32 random bytes, mode 0600), made on first use. The database
/// alone does not reveal them.
public struct SecretBox: Sendable {
    private let key: SymmetricKey

    public init(dataDirectory: URL) throws {
        let directory = dataDirectory.appendingPathComponent("secrets")
        let file = directory.appendingPathComponent("secret.key")
        let manager = FileManager.default
        try manager.createDirectory(at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        if manager.fileExists(atPath: file.path) {
            // Never replace a key: the secrets sealed with it would be lost.
            guard let data = manager.contents(atPath: file.path), data.count == 32 else {
                throw SecretBoxError("\(file.path) is not a 32-byte key (unreadable or damaged); restore it, or remove it and register the registries' credentials again")
            }
            key = SymmetricKey(data: data)
            return
        }
        let fresh = SymmetricKey(size: .bits256)
        let bytes = fresh.withUnsafeBytes { Data($0) }
        guard manager.createFile(atPath: file.path, contents: bytes, attributes: [.posixPermissions: 0o600]) else {
            throw SecretBoxError("cannot write the secret key \(file.path)")
        }
        key = fresh
    }

    /// A key for another purpose (e.g. signing artifact URLs), derived from the secret key so it never leaves it.
    public func derivedKey(purpose: String) -> SymmetricKey {
        HKDF<SHA256>.deriveKey(inputKeyMaterial: key, info: Data("aios:\(purpose)".utf8), outputByteCount: 32)
    }

    public func seal(_ secret: String) throws -> Data {
        guard let combined = try AES.GCM.seal(Data(secret.utf8), using: key).combined else {
            throw SecretBoxError("cannot seal the secret")
        }
        return combined
    }

    public func open(_ sealed: Data) throws -> String {
        do {
            return String(decoding: try AES.GCM.open(AES.GCM.SealedBox(combined: sealed), using: key), as: UTF8.self)
        } catch {
            throw SecretBoxError("a stored secret cannot be opened with this data directory's key (secrets/secret.key was replaced?)")
        }
    }
}

public struct SecretBoxError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
