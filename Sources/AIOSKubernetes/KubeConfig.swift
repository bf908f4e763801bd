import AIOSModel
import Foundation

/// A kubeconfig file (`clusters`, `users`, `contexts`, `current-context`), read for one context's server,
/// CA, credentials and namespace. Paths in it are relative to the file, as kubectl reads them.
public struct KubeConfig: Sendable {
    /// What is wrong with the file or the context asked for; `field` is `context` when the context is the problem.
    public struct Problem: Error, CustomStringConvertible {
        public var field: String
        public var message: String
        public var description: String { message }
    }

    let document: JSONValue
    let directory: URL

    public init(document: JSONValue, directory: URL) {
        self.document = document
        self.directory = directory
    }

    public static func load(path: String) throws -> KubeConfig {
        let url = URL(fileURLWithPath: path)
        if let problem = SmallFile.problem(path) { throw Problem(field: "kubeconfig", message: problem) }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw Problem(field: "kubeconfig", message: "cannot read \(path)")
        }
        do {
            return KubeConfig(document: try DocumentDecoder.decode(data, contentType: "application/yaml"), directory: url.deletingLastPathComponent())
        } catch {
            throw Problem(field: "kubeconfig", message: "\(path) is not a kubeconfig: \(error.message)")
        }
    }

    /// The named entry of `clusters`, `users` or `contexts`.
    private func entry(_ list: String, _ name: String) -> [String: JSONValue]? {
        document[list]?.arrayValue?.first { $0["name"]?.stringValue == name }?[String(list.dropLast())]?.objectValue
    }

    /// The settings of `context` (the current context when `nil`).
    public func settings(context: String?) throws -> KubernetesSettings {
        guard let name = context ?? document["current-context"]?.stringValue, !name.isEmpty else {
            throw Problem(field: "context", message: "the kubeconfig has no current-context; name one with context")
        }
        guard let context = entry("contexts", name) else {
            let known = document["contexts"]?.arrayValue?.compactMap { $0["name"]?.stringValue } ?? []
            throw Problem(field: "context", message: "the kubeconfig has no context \"\(name)\" (it has \(known.isEmpty ? "none" : known.joined(separator: ", ")))")
        }
        guard let clusterName = context["cluster"]?.stringValue, let cluster = entry("clusters", clusterName) else {
            throw Problem(field: "kubeconfig", message: "context \"\(name)\" names a cluster the kubeconfig does not list")
        }
        guard let serverText = cluster["server"]?.stringValue, let server = KubernetesSettings.httpURL(serverText) else {
            throw Problem(field: "kubeconfig", message: "cluster \"\(clusterName)\" has no https:// server")
        }
        var trust = KubernetesSettings.Trust.system
        if cluster["insecure-skip-tls-verify"]?.boolValue == true {
            trust = .insecure
        } else if let data = cluster["certificate-authority-data"]?.stringValue {
            guard let pem = decodePEM(data) else { throw Problem(field: "kubeconfig", message: "cluster \"\(clusterName)\": certificate-authority-data is not base64 PEM") }
            trust = .certificateAuthority(pem: pem)
        } else if let file = cluster["certificate-authority"]?.stringValue {
            trust = .certificateAuthority(pem: try read(file, what: "certificate-authority"))
        }
        var credential = KubernetesSettings.Credential.none
        if let userName = context["user"]?.stringValue, let user = entry("users", userName) {
            if let token = user["token"]?.stringValue {
                credential = .token(token)
            } else if let file = user["tokenFile"]?.stringValue {
                credential = .tokenFile(resolve(file))
            } else if let certificate = try pem(user, "client-certificate"), let key = try pem(user, "client-key") {
                credential = .clientCertificate(certificatePEM: certificate, keyPEM: key)
            } else if user["exec"] != nil || user["auth-provider"] != nil {
                throw Problem(field: "kubeconfig", message: "user \"\(userName)\" authenticates with an exec or auth-provider plugin, which the platform does not run; use a token (a ServiceAccount's) instead")
            }
        }
        if server.scheme?.lowercased() == "http", credential != .none {
            throw Problem(field: "kubeconfig", message: "cluster \"\(clusterName)\" is http: a token is sent only over https")
        }
        let namespace = context["namespace"]?.stringValue ?? ""
        var settings = KubernetesSettings(server: server, credential: credential, trust: trust, namespace: namespace)
        if case .tokenFile(let file) = credential { settings.files["kubeconfig.tokenFile"] = file }
        if let file = cluster["certificate-authority"]?.stringValue, cluster["certificate-authority-data"] == nil { settings.files["kubeconfig.certificate-authority"] = resolve(file) }
        return settings
    }

    private func pem(_ user: [String: JSONValue], _ field: String) throws -> String? {
        if let data = user["\(field)-data"]?.stringValue {
            guard let pem = decodePEM(data) else { throw Problem(field: "kubeconfig", message: "\(field)-data is not base64 PEM") }
            return pem
        }
        return try user[field]?.stringValue.map { try read($0, what: field) }
    }

    private func decodePEM(_ base64: String) -> String? {
        Data(base64Encoded: base64, options: .ignoreUnknownCharacters).flatMap { String(data: $0, encoding: .utf8) }.flatMap { $0.contains("-----BEGIN") ? $0 : nil }
    }

    private func resolve(_ path: String) -> String {
        path.hasPrefix("/") ? path : directory.appendingPathComponent(path).path
    }

    private func read(_ path: String, what: String) throws -> String {
        if let problem = SmallFile.problem(resolve(path)) { throw Problem(field: "kubeconfig", message: "\(what): \(problem)") }
        guard let text = try? String(contentsOfFile: resolve(path), encoding: .utf8) else {
            throw Problem(field: "kubeconfig", message: "cannot read \(what) \(resolve(path))")
        }
        return text
    }
}
