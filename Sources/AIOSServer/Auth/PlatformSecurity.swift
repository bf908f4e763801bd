import AIOSAuth
import AIOSModel
import AIOSRuntime
import AIOSSplits
import AIOSStore
import AIOSVDAG
import AIOSWire
import Crypto
import Foundation
import GRPCNIOTransportHTTP2
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOSSL

/// What `aios up` secures itself with, made once at start: the token authority (nil with `--auth off`), the audit
/// log, the artifact URL signer, and TLS for HTTP and gRPC when a certificate is given.
struct PlatformSecurity: Sendable {
    let authority: TokenAuthority?
    let audit: AuditLog
    let artifacts: ArtifactURLSigner
    let tls: TLSFiles?

    struct TLSFiles: Sendable {
        var certificate: String
        var key: String
    }

    /// Hosts `--auth off` accepts: loopback only.
    static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }

    static func make(configuration: EmbeddedPlatform.Configuration, registry: any Registry, secrets: SecretBox,
                     logger: Logger) async throws -> PlatformSecurity {
        let tls: TLSFiles?
        switch (configuration.tlsCertificatePath, configuration.tlsKeyPath) {
        case (let certificate?, let key?): tls = TLSFiles(certificate: certificate, key: key)
        case (nil, nil): tls = nil
        default: throw TokenAuthorityError("--tls-cert and --tls-key go together")
        }
        let audit = AuditLog(path: configuration.dataDirectory.appendingPathComponent("audit.log").path)
        let artifacts = ArtifactURLSigner(key: secrets.derivedKey(purpose: "artifact-urls"))
        guard configuration.authentication else {
            guard isLoopback(configuration.host) else {
                throw TokenAuthorityError("--auth off is accepted only when aios up listens on loopback (--host 127.0.0.1), not on \(configuration.host)")
            }
            logger.warning("authentication is OFF (--auth off): anyone who can reach 127.0.0.1 may act as admin")
            return PlatformSecurity(authority: nil, audit: audit, artifacts: artifacts, tls: tls)
        }
        let file = configuration.dataDirectory.appendingPathComponent("tokens/admin.token")
        let (authority, created) = try await TokenAuthority.load(registry: registry, adminTokenFile: file)
        logger.notice(created ? "admin token created" : "admin token", metadata: ["file": "\(file.path)"])
        return PlatformSecurity(authority: authority, audit: audit, artifacts: artifacts, tls: tls)
    }

    /// The gRPC servers' interceptors and transport.
    func grpc(scope: AccessScope) -> GRPCServerSecurity {
        let interceptors = authority.map { [BearerTokenInterceptor(authority: $0, scope: scope, audit: audit)] } ?? []
        guard let tls else { return GRPCServerSecurity(interceptors: interceptors, transport: .plaintext) }
        return GRPCServerSecurity(
            interceptors: interceptors,
            transport: .tls(certificateChain: [.file(path: tls.certificate, format: .pem)], privateKey: .file(path: tls.key, format: .pem)))
    }

    /// The HTTP server: HTTP/1.1 with an idle/read timeout, over TLS when configured.
    /// `idleTimeout` closes a connection that sends nothing for that long, whether idle between requests or stalled
    /// while sending its headers or body (a half-sent request). Responses being written (streams) are not cut.
    func httpServer(idleTimeout: Double) throws -> HTTPServerBuilder {
        let http1 = HTTPServerBuilder.http1(configuration: .init(idleTimeout: .milliseconds(Int64(idleTimeout * 1000))))
        guard let tls else { return http1 }
        let certificates = try NIOSSLCertificate.fromPEMFile(tls.certificate).map { NIOSSLCertificateSource.certificate($0) }
        let key = try NIOSSLPrivateKey(file: tls.key, format: .pem)
        return try .tls(http1, tlsConfiguration: .makeServerConfiguration(certificateChain: certificates, privateKey: .privateKey(key)))
    }
}
