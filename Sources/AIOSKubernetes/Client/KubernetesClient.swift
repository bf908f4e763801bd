import AIOSModel
import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import NIOSSL

/// A client of one cluster's Kubernetes API: JSON over HTTPS with its bearer token or client certificate.
/// Every call has a deadline; throttling (429), server errors (5xx) and failed connections are retried with
/// backoff (honouring `Retry-After`) up to a bound; watches stream events line by line.
public final class KubernetesClient: Sendable {
    public let settings: KubernetesSettings
    private let http: HTTPClient
    private let logger: Logger
    /// Attempts per call (the first included) for transient failures.
    public let attempts: Int
    /// A reply larger than this is refused (lists come in pages: `list`).
    static let maxReplyBytes = 64 << 20
    /// Events or lines a stream holds for a slow reader; one more ends the stream with an error (nothing is
    /// dropped silently: a watch's reader lists again).
    static let streamBuffer = 1_000
    /// Items per page of a list.
    public static let pageSize = 500

    /// Every item of the collection at `path`, page by page (`limit`/`continue`), and the list's resourceVersion
    /// (to watch from).
    public func list(_ path: String, query: [String: String] = [:], timeout: Double = 30) async throws -> (items: [JSONValue], resourceVersion: String) {
        var items: [JSONValue] = []
        var query = query
        query["limit"] = String(Self.pageSize)
        var resourceVersion: String?
        while true {
            let page = try await get(path, query: query, timeout: timeout)
            items += page["items"]?.arrayValue ?? []
            if resourceVersion == nil { resourceVersion = page["metadata"]?["resourceVersion"]?.stringValue }
            guard let next = page["metadata"]?["continue"]?.stringValue, !next.isEmpty else { break }
            query["continue"] = next
        }
        return (items, resourceVersion ?? "")
    }

    public init(settings: KubernetesSettings, attempts: Int = 4, logger: Logger) throws {
        self.settings = settings
        self.attempts = max(1, attempts)
        self.logger = logger
        var configuration = HTTPClient.Configuration()
        // Deadlines are per call (a watch streams for minutes); connecting is bounded here.
        configuration.timeout = .init(connect: .seconds(5), read: nil)
        // A refused connection fails at once; this client's own retries (bounded, with backoff) take it from there.
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.redirectConfiguration = .disallow
        configuration.httpVersion = .http1Only
        configuration.tlsConfiguration = try Self.tlsConfiguration(settings)
        http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    /// How the server is trusted and the client known: the CA and the client certificate and key parsed.
    public static func tlsConfiguration(_ settings: KubernetesSettings) throws -> TLSConfiguration {
        var tls = TLSConfiguration.makeClientConfiguration()
        switch settings.trust {
        case .system: break
        case .insecure: tls.certificateVerification = .none
        case .certificateAuthority(let pem):
            do {
                tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(Array(pem.utf8)))
            } catch {
                throw KubernetesError.badReply("the cluster's CA certificate cannot be read: \(error)")
            }
        }
        if case .clientCertificate(let certificatePEM, let keyPEM) = settings.credential {
            do {
                tls.certificateChain = try NIOSSLCertificate.fromPEMBytes(Array(certificatePEM.utf8)).map { .certificate($0) }
                tls.privateKey = .privateKey(try NIOSSLPrivateKey(bytes: Array(keyPEM.utf8), format: .pem))
            } catch {
                throw KubernetesError.badReply("the kubeconfig's client certificate or key cannot be read: \(error)")
            }
        }
        return tls
    }

    /// Closes its connections; call once, when the cluster is no longer used.
    public func shutdown() async {
        try? await http.shutdown()
    }

    public var namespace: String { settings.namespace }

    // MARK: Calls

    /// `GET`: the object or list at `path`.
    public func get(_ path: String, query: [String: String] = [:], timeout: Double = 30) async throws -> JSONValue {
        try await json(.GET, path, query: query, timeout: timeout)
    }

    /// `POST` of a new object to the collection at `path`.
    @discardableResult
    public func create(_ path: String, _ object: JSONValue, query: [String: String] = [:], timeout: Double = 30) async throws -> JSONValue {
        try await json(.POST, path, query: query, body: object, timeout: timeout)
    }

    /// `DELETE` with `gracePeriodSeconds` (and foreground propagation for owners, so a Job's pods go with it).
    /// A missing object counts as deleted.
    public func delete(_ path: String, gracePeriodSeconds: Int? = nil, propagation: String? = nil, timeout: Double = 30) async throws {
        var options: [String: JSONValue] = ["kind": "DeleteOptions", "apiVersion": "v1"]
        if let gracePeriodSeconds { options["gracePeriodSeconds"] = .number(Double(gracePeriodSeconds)) }
        if let propagation { options["propagationPolicy"] = .string(propagation) }
        do {
            _ = try await json(.DELETE, path, body: .object(options), timeout: timeout)
        } catch let error as KubernetesError where error.isNotFound {}
    }

    /// A merge patch (`application/merge-patch+json`) of the object at `path` (a `/status` subresource too).
    @discardableResult
    public func patch(_ path: String, _ patch: JSONValue, timeout: Double = 30) async throws -> JSONValue {
        try await json(.PATCH, path, body: patch, contentType: "application/merge-patch+json", timeout: timeout)
    }

    /// A pod's log, as text (`tailLines`, `limitBytes` in `query`).
    public func text(_ path: String, query: [String: String] = [:], timeout: Double = 30) async throws -> String {
        let body = try await send(.GET, path, query: query, body: nil, contentType: nil, timeout: timeout)
        return String(buffer: body)
    }

    func json(_ method: HTTPMethod, _ path: String, query: [String: String] = [:], body: JSONValue? = nil,
              contentType: String = "application/json", timeout: Double) async throws -> JSONValue {
        let reply = try await send(method, path, query: query, body: body, contentType: contentType, timeout: timeout)
        guard reply.readableBytes > 0 else { return .null }
        do {
            return try JSONParser(maxDepth: 128).parse(Data(buffer: reply))
        } catch {
            throw KubernetesError.badReply("\(method) \(path): \(error.message)")
        }
    }

    /// One call with retries. The deadline bounds each attempt; the pauses between attempts are bounded too.
    private func send(_ method: HTTPMethod, _ path: String, query: [String: String], body: JSONValue?, contentType: String?,
                      timeout: Double) async throws -> ByteBuffer {
        var attempt = 0
        while true {
            attempt += 1
            do {
                return try await sendOnce(method, path, query: query, body: body, contentType: contentType, timeout: timeout)
            } catch let failure as Failure {
                // A create is sent again only when the server said it did not act (429, 503): one whose answer was
                // lost may have been made, and its caller (a supervisor, with backoff) decides what to do.
                let mayHaveHappened = method == .POST && ![429, 503].contains(failure.error.code ?? 0)
                guard failure.error.isTransient, !mayHaveHappened, attempt < attempts, !Task.isCancelled else { throw failure.error }
                let pause = min(failure.retryAfter ?? 0.2 * pow(2, Double(attempt - 1)), 5)
                logger.debug("retrying a Kubernetes API call", metadata: [
                    "method": "\(method)", "path": "\(path)", "attempt": "\(attempt)", "error": "\(failure.error)", "pause": "\(pause)",
                ])
                try await Task.sleep(for: .seconds(pause))
            }
        }
    }

    private struct Failure: Error {
        var error: KubernetesError
        var retryAfter: Double?
    }

    private func sendOnce(_ method: HTTPMethod, _ path: String, query: [String: String], body: JSONValue?, contentType: String?,
                          timeout: Double) async throws -> ByteBuffer {
        let request = try makeRequest(method, path, query: query, body: body, contentType: contentType)
        let response: HTTPClientResponse
        let deadline = NIODeadline.now() + .milliseconds(Int64(timeout * 1000))
        do {
            response = try await http.execute(request, deadline: deadline, logger: logger)
        } catch {
            throw Failure(error: .unreachable("\(method) \(path): \(Self.describe(error))"))
        }
        let buffer: ByteBuffer
        do {
            buffer = try await response.body.collect(upTo: Self.maxReplyBytes)
        } catch let error as NIOTooManyBytesError {
            throw Failure(error: .badReply("\(method) \(path): larger than \(Self.maxReplyBytes >> 20) MiB (\(error))"))
        } catch {
            throw Failure(error: .unreachable("\(method) \(path): the reply was cut off: \(Self.describe(error))"))
        }
        guard (200..<300).contains(Int(response.status.code)) else {
            let retryAfter = response.headers.first(name: "Retry-After").flatMap(Double.init)
            throw Failure(error: Self.statusError(response.status, buffer), retryAfter: retryAfter)
        }
        return buffer
    }

    func makeRequest(_ method: HTTPMethod, _ path: String, query: [String: String], body: JSONValue?, contentType: String?) throws -> HTTPClientRequest {
        var components = URLComponents(url: settings.server, resolvingAgainstBaseURL: false)
        let base = components?.path ?? ""
        components?.path = (base.hasSuffix("/") ? String(base.dropLast()) : base) + path
        if !query.isEmpty { components?.queryItems = query.sorted { $0.key < $1.key }.map { URLQueryItem(name: $0.key, value: $0.value) } }
        // `+` is a space in a query; label selectors never contain one, but encode it anyway.
        let encodedQuery = components?.percentEncodedQuery?.replacingOccurrences(of: "+", with: "%2B")
        components?.percentEncodedQuery = encodedQuery
        guard let url = components?.url?.absoluteString else { throw KubernetesError.badReply("cannot form a URL for \(path)") }
        var request = HTTPClientRequest(url: url)
        request.method = method
        request.headers.add(name: "Accept", value: "application/json")
        request.headers.add(name: "User-Agent", value: "aios-swift")
        if let token = try bearerToken() { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let body {
            request.headers.add(name: "Content-Type", value: contentType ?? "application/json")
            request.body = .bytes(ByteBuffer(data: try body.jsonData()))
        }
        return request
    }

    private func bearerToken() throws -> String? {
        switch settings.credential {
        case .token(let token): return token
        case .tokenFile(let path):
            guard SmallFile.problem(path) == nil, let token = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw KubernetesError.unreachable("cannot read the token file \(path)")
            }
            return token.trimmingCharacters(in: .whitespacesAndNewlines)
        case .none, .clientCertificate: return nil
        }
    }

    static func statusError(_ status: HTTPResponseStatus, _ body: ByteBuffer) -> KubernetesError {
        let parsed = try? JSONParser(maxDepth: 32).parse(Data(buffer: body))
        let message = parsed?["message"]?.stringValue ?? String(String(buffer: body).prefix(300))
        return .status(code: Int(status.code), reason: parsed?["reason"]?.stringValue ?? status.reasonPhrase, message: message)
    }

    static func describe(_ error: any Error) -> String {
        if let error = error as? HTTPClientError {
            switch error {
            case .deadlineExceeded: return "no answer before the deadline"
            case .connectTimeout: return "connecting timed out"
            default: return "\(error)"
            }
        }
        return "\(error)"
    }

    // MARK: Watch

    /// Watches the collection at `path` from `resourceVersion`: events as the server sends them, ending when the
    /// server closes the stream (after `timeoutSeconds`) or fails. A `410 Gone` arrives as an `ERROR` event or as
    /// the stream's error; either way the caller lists again.
    public func watch(_ path: String, query: [String: String] = [:], resourceVersion: String, timeoutSeconds: Int = 300) -> AsyncThrowingStream<WatchEvent, any Error> {
        var query = query
        query["watch"] = "1"
        query["resourceVersion"] = resourceVersion
        query["allowWatchBookmarks"] = "true"
        query["timeoutSeconds"] = String(timeoutSeconds)
        let lines = self.lines(path, query: query, timeout: Double(timeoutSeconds) + 30)
        let (stream, continuation) = AsyncThrowingStream<WatchEvent, any Error>.makeStream(bufferingPolicy: .bufferingOldest(Self.streamBuffer))
        let task = Task {
            do {
                for try await line in lines {
                    let value: JSONValue
                    do {
                        value = try JSONParser(maxDepth: 128).parse(Data(line.utf8))
                    } catch {
                        throw KubernetesError.badReply("watch \(path): \(error)")
                    }
                    if let event = WatchEvent(line: value), case .dropped = continuation.yield(event) {
                        throw KubernetesError.badReply("watch \(path): its reader fell \(Self.streamBuffer) events behind; listing again")
                    }
                }
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }

    /// The reply at `path` line by line as it streams (a watch, a followed log), for at most `timeout` seconds.
    /// A line longer than 16 MiB ends it with an error.
    public func lines(_ path: String, query: [String: String] = [:], timeout: Double) -> AsyncThrowingStream<String, any Error> {
        let (stream, continuation) = AsyncThrowingStream<String, any Error>.makeStream(bufferingPolicy: .bufferingOldest(Self.streamBuffer))
        let task = Task { [http, logger] in
            do {
                let request = try makeRequest(.GET, path, query: query, body: nil, contentType: nil)
                let deadline = NIODeadline.now() + .milliseconds(Int64(timeout * 1000))
                let response: HTTPClientResponse
                do {
                    response = try await http.execute(request, deadline: deadline, logger: logger)
                } catch {
                    throw KubernetesError.unreachable("GET \(path): \(Self.describe(error))")
                }
                guard (200..<300).contains(Int(response.status.code)) else {
                    throw Self.statusError(response.status, try await response.body.collect(upTo: 1 << 20))
                }
                var pending = ByteBuffer()
                do {
                    for try await chunk in response.body {
                        var chunk = chunk
                        pending.writeBuffer(&chunk)
                        while let newline = pending.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) {
                            let length = newline - pending.readerIndex
                            let line = pending.readString(length: length) ?? ""
                            pending.moveReaderIndex(forwardBy: 1)
                            if !line.isEmpty, case .dropped = continuation.yield(line) {
                                throw KubernetesError.badReply("GET \(path): its reader fell \(Self.streamBuffer) lines behind")
                            }
                        }
                        guard pending.readableBytes <= 16 << 20 else { throw KubernetesError.badReply("GET \(path): a line longer than 16 MiB") }
                        pending.discardReadBytes()
                    }
                } catch let error as KubernetesError {
                    throw error
                } catch {
                    throw KubernetesError.unreachable("GET \(path): the stream was cut off: \(Self.describe(error))")
                }
                if pending.readableBytes > 0, let rest = pending.readString(length: pending.readableBytes) { continuation.yield(rest) }
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }
}
