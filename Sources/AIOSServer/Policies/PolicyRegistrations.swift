import AIOSGateway
import AIOSModel
import AIOSPolicy
import AIOSStore
import Foundation
import Hummingbird
import Logging

/// `POST/GET /api/policies`, `GET/DELETE /api/policies/{uri}`: users' policies, registered as AIOS
/// `PolicyRule` documents with their code as an archive (base64 in `code.archive`, or a multipart part `code`
/// beside a `spec` part). The archive is checked and kept by its SHA-256; the document is stored with the
/// archive's digest. A policy a block or vDAG uses cannot be removed.
struct PolicyRegistrations: Sendable {
    /// A request may carry a 10 MiB archive as base64 with its document.
    static let maxBodyBytes = 16 * 1024 * 1024

    let registry: any Registry
    let policies: CustomPolicies
    let logger: Logger

    /// Loads the stored policies into `policies` (at startup).
    static func load(registry: any Registry, into policies: CustomPolicies, logger: Logger) async throws {
        var loaded: [CustomPolicies.Registered] = []
        for record in try await registry.policies() {
            guard let definition = PolicyDefinition(stored: record.document), let archive = record.document["code"].flatMap(PolicyArchive.init(json:)) else {
                logger.warning("a stored policy cannot be read; it is ignored", metadata: ["uri": "\(record.uri)"])
                continue
            }
            loaded.append(.init(definition: definition, archive: archive))
        }
        await policies.load(loaded)
    }

    func addRoutes<Context: RequestContext>(to router: Router<Context>) {
        let service = self
        router.post("api/policies") { request, _ -> Response in
            Response.json(try await service.register(request), status: .created)
        }
        router.get("api/policies") { _, _ -> Response in
            var views: [JSONValue] = []
            for record in try await service.registry.policies() { views.append(await service.view(record)) }
            return Response.json(.array(views))
        }
        router.get("api/policies/:uri") { _, context -> Response in
            let uri = try context.parameters.require("uri")
            guard let record = try await service.registry.policy(uri: uri) else { throw APIError(.notFound, "policy \"\(uri)\" does not exist") }
            return Response.json(await service.view(record))
        }
        router.delete("api/policies/:uri") { _, context -> Response in
            Response.json(try await service.remove(uri: try context.parameters.require("uri")))
        }
    }

    // MARK: Actions

    func register(_ request: Request) async throws -> JSONValue {
        let (document, uploaded) = try await Self.read(request)
        let envelope = try SpecEnvelope(document: document)
        var values = envelope.values
        let codePath = envelope.valuesPath / "code"
        var archiveBytes = uploaded
        if archiveBytes == nil {
            switch values["code"] {
            case .object(let code)?:
                guard let text = code["archive"]?.stringValue else {
                    throw APIError.validation([FieldError(path: codePath / "archive", message: "expected the archive (.zip or .tar.gz) as base64")])
                }
                guard text.utf8.count <= (PolicyArchives.maxBytes / 3 + 1) * 4 + 64, let bytes = Data(base64Encoded: text, options: .ignoreUnknownCharacters) else {
                    throw APIError.validation([FieldError(path: codePath / "archive", message: "is not base64, or decodes to more than \(PolicyArchives.maxBytes) bytes")])
                }
                archiveBytes = bytes
            case .string?:
                throw APIError.validation([FieldError(path: codePath, message: "upload the archive: {\"archive\": \"<base64 of the .zip/.tar.gz>\"}, or a multipart part named code (aios apply -f reads a path here for you); the platform fetches no URL and reads none of its own files")])
            default:
                throw APIError.validation([FieldError(path: codePath, message: "is required: the policy's archive holding code/function.py, as {\"archive\": \"<base64>\"} or a multipart part named code")])
            }
        }
        values["code"] = nil
        let definition = try PolicyDefinition(values: values, at: envelope.valuesPath)
        let host: PolicyHost
        switch await policies.host() {
        case .success(let prepared): host = prepared
        case .failure(let unavailable): throw APIError(.unavailable, unavailable.description)
        }
        let archive = try await PolicyArchives(host: host).store(archiveBytes ?? Data(), field: codePath)
        let stored = definition.document(archive: archive)
        let existing = try await registry.policy(uri: definition.uri)
        try await registry.putPolicy(PolicyRecord(uri: definition.uri, kind: definition.kind.rawValue, document: stored, createdAt: existing?.createdAt ?? Date()))
        await policies.register(.init(definition: definition, archive: archive))
        logger.info("policy registered", metadata: ["uri": "\(definition.uri)", "kind": "\(definition.kind.rawValue)", "archive": "sha256:\(archive.digest)", "replaced": "\(existing != nil)"])
        var view = await view(PolicyRecord(uri: definition.uri, kind: definition.kind.rawValue, document: stored))
        if var object = view.objectValue {
            object["replaced"] = .bool(existing != nil)
            view = .object(object)
        }
        return ["result": view]
    }

    func remove(uri: String) async throws -> JSONValue {
        guard let record = try await registry.policy(uri: uri) else { throw APIError(.notFound, "policy \"\(uri)\" does not exist") }
        let users = try await users(of: uri)
        guard users.isEmpty else {
            throw APIError(.conflict, "policy \(uri) is used by \(users.prefix(10).joined(separator: ", "))\(users.count > 10 ? " and \(users.count - 10) more" : ""); remove those first")
        }
        let digest = record.document["code"].flatMap(PolicyArchive.init(json:))?.digest
        try await registry.deletePolicy(uri: uri)
        await policies.unregister(uri: uri)
        // The archive, its code and venv go when no other policy has the same bytes.
        if let digest, case .success(let host) = await policies.host(),
           try await !registry.policies().contains(where: { $0.document["code"]?["digest"]?.stringValue == "sha256:" + digest }) {
            PolicyArchives(host: host).remove(digest: digest)
        }
        logger.info("policy removed", metadata: ["uri": "\(uri)"])
        return ["result": ["policy_rule_uri": .string(uri), "removed": true]]
    }

    /// The blocks and vDAGs whose documents name `uri` as a `policyRuleURI`.
    func users(of uri: String) async throws -> [String] {
        var users: [String] = []
        for block in try await registry.blocks() where Self.names(uri, in: .object(block.resolved.policies)) || Self.names(uri, in: .object(block.spec)) {
            users.append("block \(block.blockId)")
        }
        for vdag in try await registry.vdags() where Self.names(uri, in: .object(vdag.document)) {
            users.append("vDAG \(vdag.uri)")
        }
        return users
    }

    static func names(_ uri: String, in value: JSONValue) -> Bool {
        switch value {
        case .object(let object):
            if object["policyRuleURI"]?.stringValue == uri { return true }
            return object.values.contains { names(uri, in: $0) }
        case .array(let list):
            return list.contains { names(uri, in: $0) }
        default:
            return false
        }
    }

    /// The stored document with the workers' health: `status` (`Idle`, `Ready`, `Degraded`), `lastError`.
    func view(_ record: PolicyRecord) async -> JSONValue {
        var object = record.document.objectValue ?? [:]
        object["policy_rule_uri"] = .string(record.uri)
        object["createdAt"] = .time(record.createdAt)
        let status = await policies.status(uri: record.uri)
        object["status"] = .string(status.state.rawValue)
        object["workers"] = .number(Double(status.workers))
        object["calls"] = .number(Double(status.calls))
        object["failures"] = .number(Double(status.failures))
        if let lastError = status.lastError { object["lastError"] = .string(lastError) }
        return .object(object)
    }

    // MARK: Requests

    /// The document and, for a multipart request, the archive part's bytes.
    static func read(_ request: Request) async throws -> (JSONValue, Data?) {
        if let boundary = MultipartForm.boundary(of: request.headers[.contentType]) {
            let form: MultipartForm
            do {
                form = try await MultipartForm.parse(request, boundary: boundary, limit: maxBodyBytes)
            } catch {
                throw APIError(error.code == .payloadTooLarge ? .payloadTooLarge : .invalidDocument, error.message)
            }
            guard let spec = form.fields["spec"] ?? form.files.first(where: { $0.field == "spec" }).map({ String(decoding: $0.data, as: UTF8.self) }) else {
                throw APIError.validation([FieldError(path: "spec", message: "the multipart body needs a part named spec holding the policy document (JSON or YAML)")])
            }
            guard let code = form.files.first(where: { $0.field == "code" }) else {
                throw APIError.validation([FieldError(path: "code", message: "the multipart body needs a file part named code holding the archive")])
            }
            return (try DocumentDecoder.decode(Data(spec.utf8), contentType: nil), code.data)
        }
        return (try await HTTPAPI.document(from: request, limit: maxBodyBytes), nil)
    }
}
