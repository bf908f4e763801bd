import AIOSKubernetes
import AIOSModel
import Foundation
import XCTest

/// `config.kubernetes` and kubeconfig files.
final class KubernetesSettingsTests: XCTestCase {
    static let caPEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    var caData: String { Data(Self.caPEM.utf8).base64EncodedString() }

    func read(_ object: JSONValue) throws -> KubernetesSettings {
        try KubernetesSettings.read(object.objectValue ?? [:], at: .root / "config" / "kubernetes")
    }

    func fields(_ object: JSONValue) -> [String] {
        do {
            _ = try read(object)
            return []
        } catch let error as APIError {
            return error.fields.map(\.path)
        } catch {
            return ["\(error)"]
        }
    }

    func testServerTokenCAAndNamespace() throws {
        let settings = try read(["server": "https://10.0.0.1:6443", "token": "abc", "caData": .string(caData), "gpuMetricsURL": "http://dcgm:9400/metrics"])
        XCTAssertEqual(settings.server.absoluteString, "https://10.0.0.1:6443")
        XCTAssertEqual(settings.credential, .token("abc"))
        XCTAssertEqual(settings.trust, .certificateAuthority(pem: Self.caPEM))
        XCTAssertEqual(settings.namespace, "aios")
        XCTAssertEqual(settings.gpuMetricsURL?.absoluteString, "http://dcgm:9400/metrics")
        XCTAssertEqual(try read(["server": "https://k", "insecureSkipTLSVerify": true, "namespace": "ml"]).trust, .insecure)
    }

    func testBadFieldsAreNamed() {
        XCTAssertEqual(fields(["token": "abc"]), ["config.kubernetes.server"])
        XCTAssertEqual(fields(["server": "ftp://x"]), ["config.kubernetes.server"])
        XCTAssertEqual(fields(["server": "https://k", "token": "a", "tokenFile": "/etc/hostname"]), ["config.kubernetes.tokenFile"])
        XCTAssertEqual(fields(["server": "https://k", "tokenFile": "/nonexistent/token"]), ["config.kubernetes.tokenFile"])
        XCTAssertEqual(fields(["server": "https://k", "tokenFile": "/dev/zero"]), ["config.kubernetes.tokenFile"], "not a regular file: it would never end")
        XCTAssertEqual(fields(["kubeconfig": "/dev/zero"]), ["config.kubernetes.kubeconfig"])
        XCTAssertEqual(fields(["server": "https://k", "caData": "bm90IGEgY2VydA=="]), ["config.kubernetes.caData"])
        XCTAssertEqual(fields(["server": "https://k", "caData": .string(caData), "insecureSkipTLSVerify": true]), ["config.kubernetes.caData"])
        XCTAssertEqual(fields(["server": "https://k", "namespace": "Bad Name"]), ["config.kubernetes.namespace"])
        XCTAssertEqual(fields(["server": "https://k", "tokn": "x"]), ["config.kubernetes.tokn"])
        XCTAssertEqual(fields(["kubeconfig": "/nonexistent/config"]), ["config.kubernetes.kubeconfig"])
        XCTAssertEqual(fields(["kubeconfig": "/x", "server": "https://k"]), ["config.kubernetes.server"])
    }

    func testFilesTheConfigurationReadsAreKnownAndTokensGoOnlyOverHTTPS() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("k8s-files-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let token = directory.appendingPathComponent("token")
        try "t0ken".write(to: token, atomically: true, encoding: .utf8)
        let settings = try read(["server": "https://k", "tokenFile": .string(token.path)])
        XCTAssertEqual(settings.fileFields(under: directory.path), ["tokenFile"], "a file inside the protected directory is found")
        XCTAssertEqual(settings.fileFields(under: "/nonexistent"), [])
        XCTAssertEqual(fields(["server": "http://k", "token": "abc"]), ["config.kubernetes.server"], "no token over plain http")
        XCTAssertEqual(try read(["server": "http://k"]).server.absoluteString, "http://k", "plain http without a credential is allowed")
    }

    func testASealedTokenIsOpened() throws {
        let settings = try KubernetesSettings.read(["server": "https://k", "token": ["$sealed": "opaque"]], at: .root) { value in
            value["$sealed"] != nil ? "opened-token" : value
        }
        XCTAssertEqual(settings.credential, .token("opened-token"))
    }

    func testKubeconfigContexts() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kubeconfig-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try Self.caPEM.write(to: directory.appendingPathComponent("ca.crt"), atomically: true, encoding: .utf8)
        let file = directory.appendingPathComponent("config")
        try """
        apiVersion: v1
        kind: Config
        current-context: dev
        clusters:
        - name: dev-cluster
          cluster:
            server: https://127.0.0.1:16443
            certificate-authority-data: \(caData)
        - name: prod-cluster
          cluster:
            server: https://prod:6443
            certificate-authority: ca.crt
        users:
        - name: dev-user
          user:
            token: dev-token
        - name: sso
          user:
            exec:
              command: kubelogin
        contexts:
        - name: dev
          context:
            cluster: dev-cluster
            user: dev-user
            namespace: ml
        - name: prod
          context:
            cluster: prod-cluster
            user: sso
        """.write(to: file, atomically: true, encoding: .utf8)
        let dev = try read(["kubeconfig": .string(file.path)])
        XCTAssertEqual(dev.server.absoluteString, "https://127.0.0.1:16443")
        XCTAssertEqual(dev.credential, .token("dev-token"))
        XCTAssertEqual(dev.trust, .certificateAuthority(pem: Self.caPEM))
        XCTAssertEqual(dev.namespace, "ml", "the context's namespace")
        XCTAssertEqual(try read(["kubeconfig": .string(file.path), "namespace": "aios"]).namespace, "aios", "an explicit namespace wins")
        XCTAssertEqual(fields(["kubeconfig": .string(file.path), "context": "prod"]), ["config.kubernetes.kubeconfig"], "exec plugins are refused")
        XCTAssertEqual(fields(["kubeconfig": .string(file.path), "context": "staging"]), ["config.kubernetes.context"])
    }
}
