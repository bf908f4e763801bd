import AIOSModel
import AIOSStore
import Foundation
import Logging

/// Container registries (`POST /api/registries`, AIOS `containerRegistryId`): URL, TLS and credentials, the
/// password sealed at rest and never shown. Pulls get a short-lived auth file with the credentials.
public struct ContainerRegistries: Sendable {
    let registry: any Registry
    let secrets: SecretBox
    let dataDirectory: URL
    let logger: Logger

    public init(registry: any Registry, secrets: SecretBox, dataDirectory: URL, logger: Logger) {
        self.registry = registry
        self.secrets = secrets
        self.dataDirectory = dataDirectory
        self.logger = logger
    }

    public func put(_ document: JSONValue) async throws -> JSONValue {
        let (record, password) = try RegistryRecord.read(document)
        var stored = record
        if let existing = try await registry.containerRegistry(id: record.id) { stored.createdAt = existing.createdAt }
        stored.sealedPassword = try password.map(secrets.seal)
        try await registry.putContainerRegistry(stored)
        logger.info("container registry stored", metadata: ["containerRegistryId": "\(record.id)", "url": "\(record.url)", "credentials": "\(password != nil)"])
        return ["success": true, "result": stored.view]
    }

    public func list() async throws -> JSONValue {
        .array(try await registry.containerRegistries().map(\.view))
    }

    public func get(_ id: String) async throws -> JSONValue {
        guard let record = try await registry.containerRegistry(id: id) else {
            throw APIError(.notFound, "container registry \"\(id)\" does not exist")
        }
        return record.view
    }

    public func delete(_ id: String) async throws -> JSONValue {
        do {
            try await registry.deleteContainerRegistry(id: id)
        } catch RegistryError.notFound {
            throw APIError(.notFound, "container registry \"\(id)\" does not exist")
        }
        return ["success": true, "result": ["containerRegistryId": .string(id), "removed": true]]
    }

    /// The registered registry of `image` and the reference to pull, or `nil` for an image without a
    /// `containerRegistryId`. An unknown id, or an image naming another host, is an error naming it.
    private func registryRecord(for image: OCIImageSpec) async throws -> (record: RegistryRecord, reference: String)? {
        guard let id = image.registryId else { return nil }
        guard let record = try await registry.containerRegistry(id: id) else {
            throw SecretBoxError("containerRegistryInfo.containerRegistryId \"\(id)\" is not a registered registry; add it with POST /api/registries {\"containerRegistryId\": \"\(id)\", \"url\", \"username\", \"password\"}")
        }
        if let host = image.referenceHost, host != record.host {
            // The credentials are the registry's: they never go to another host.
            throw SecretBoxError("containerImage \(image.image) names registry host \(host), but containerRegistryId \"\(id)\" is \(record.host); name the image without a host, or with \(record.host)")
        }
        return (record, image.reference(registryHost: record.host))
    }

    /// What a node that pulls `image` itself needs: the reference and, for a registry with credentials, its host,
    /// user name and opened password (for a pull Secret).
    public func credentials(for image: OCIImageSpec) async throws -> (reference: String, host: String?, username: String?, password: String?) {
        guard let (record, reference) = try await registryRecord(for: image) else { return (image.image, nil, nil, nil) }
        guard let username = record.username, let sealed = record.sealedPassword else { return (reference, record.host, nil, nil) }
        return (reference, record.host, username, try secrets.open(sealed))
    }

    /// What a pull of `image` needs: the reference, the auth file (written now, 0600; remove it after the
    /// pull) and whether to verify TLS.
    public func access(for image: OCIImageSpec, scratch: URL) async throws -> (reference: String, authFile: URL?, tlsVerify: Bool?, registryId: String?) {
        guard let (record, reference) = try await registryRecord(for: image) else { return (image.image, nil, nil, nil) }
        guard let username = record.username, let sealed = record.sealedPassword else { return (reference, nil, record.tls, record.id) }
        let password = try secrets.open(sealed)
        let auth = Data("\(username):\(password)".utf8).base64EncodedString()
        let host = record.host
        let file = scratch.appendingPathComponent("auth-\(UUID().uuidString.prefix(8)).json")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let body = JSONValue.object(["auths": .object([host: ["auth": .string(auth)]])])
        guard FileManager.default.createFile(atPath: file.path, contents: try body.jsonData(), attributes: [.posixPermissions: 0o600]) else {
            throw SecretBoxError("cannot write the pull's auth file in \(scratch.path)")
        }
        return (reference, file, record.tls, record.id)
    }
}
