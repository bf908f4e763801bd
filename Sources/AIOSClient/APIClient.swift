import AIOSModel
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import NIOSSL
import Synchronization

/// A client of the management plane's HTTP API, with a deadline on every call.
public struct APIClient: Sendable {
    /// A reply: the HTTP status and the JSON body.
    public struct Reply: Sendable {
        public var status: Int
        public var body: JSONValue

        public var isSuccess: Bool { (200..<300).contains(status) }

        /// The body, or the API's error when the status says the call failed.
        public func get() throws -> JSONValue {
            guard isSuccess else {
                throw APIError(json: body) ?? APIError(.internalError, "HTTP \(status): \(body.jsonString())")
            }
            return body
        }
    }

    public struct Unreachable: Error, CustomStringConvertible {
        public var server: String
        public var reason: String
        public var description: String { "cannot reach aios at \(server): \(reason) (is `aios up` running? pass --server URL)" }
    }

    public let server: String
    public let timeout: TimeAmount
    /// Sent as `Authorization: Bearer <token>`.
    public let token: String?
    /// A PEM CA certificate to trust for an `https://` server (`aios up --tls-cert` with a private CA).
    public let caFile: String?

    /// One client for the process, failing fast when nothing listens (AsyncHTTPClient's shared client
    /// would retry a refused connection until the request deadline).
    private static let http = client(caFile: nil)
    /// Clients that trust a given CA file, made on first use and kept for the process.
    private static let trusting = Mutex<[String: HTTPClient]>([:])

    private static func client(caFile: String?) -> HTTPClient {
        var configuration = HTTPClient.Configuration()
        configuration.timeout = .init(connect: .seconds(3), read: .seconds(60))
        if let caFile {
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.trustRoots = .file(caFile)
            configuration.tlsConfiguration = tls
        }
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    private var http: HTTPClient {
        guard let caFile else { return Self.http }
        return Self.trusting.withLock { clients in
            if let client = clients[caFile] { return client }
            let client = Self.client(caFile: caFile)
            clients[caFile] = client
            return client
        }
    }

    public init(server: String, token: String? = nil, caFile: String? = nil, timeout: TimeAmount = .seconds(30)) {
        self.server = server.hasSuffix("/") ? String(server.dropLast()) : server
        self.token = token
        self.caFile = caFile
        self.timeout = timeout
    }

    public func get(_ path: String) async throws -> Reply {
        try await send(method: .GET, path: path, body: nil, contentType: nil)
    }

    public func post(_ path: String, body: Data, contentType: String = "application/json") async throws -> Reply {
        try await send(method: .POST, path: path, body: body, contentType: contentType)
    }

    public func delete(_ path: String) async throws -> Reply {
        try await send(method: .DELETE, path: path, body: nil, contentType: nil)
    }

    private func send(method: HTTPMethod, path: String, body: Data?, contentType: String?) async throws -> Reply {
        var request = HTTPClientRequest(url: server + path)
        request.method = method
        if let body {
            request.body = .bytes(ByteBuffer(data: body))
            request.headers.add(name: "Content-Type", value: contentType ?? "application/json")
        }
        request.headers.add(name: "Accept", value: "application/json")
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        let response: HTTPClientResponse
        let bytes: ByteBuffer
        do {
            response = try await http.execute(request, timeout: timeout)
            bytes = try await response.body.collect(upTo: 64 * 1024 * 1024)
        } catch {
            throw Unreachable(server: server, reason: String(describing: error))
        }
        let data = Data(buffer: bytes)
        let json = JSONValue.decodeJSON(data) ?? .string(String(decoding: data, as: UTF8.self))
        return Reply(status: Int(response.status.code), body: json)
    }
}
