import AIOSModel
import Foundation

/// How the platform reaches a Kubernetes cluster: a cluster's `config.kubernetes`, as `createCluster` takes it.
///
/// `{"server": URL, "token": T | "tokenFile": P, "caData": base64 | "caFile": P | "insecureSkipTLSVerify": true,
/// "namespace": "aios", "gpuMetricsURL": URL}`, or `{"kubeconfig": P, "context": C}` with the same optional
/// `namespace` and `gpuMetricsURL`. The token is sealed at rest (`{"$sealed": ...}`) and opened only here.
public struct KubernetesSettings: Sendable, Equatable {
    /// Where credentials come from.
    public enum Credential: Sendable, Equatable {
        case none
        case token(String)
        /// Read at each connection, so a rotated service-account token is picked up.
        case tokenFile(String)
        /// PEM client certificate and key (from a kubeconfig).
        case clientCertificate(certificatePEM: String, keyPEM: String)
    }

    /// How the server's certificate is checked.
    public enum Trust: Sendable, Equatable {
        /// The system's roots.
        case system
        /// PEM certificates of the CA.
        case certificateAuthority(pem: String)
        /// No check at all (`insecureSkipTLSVerify`): for test clusters only.
        case insecure
    }

    public static let defaultNamespace = "aios"

    public var server: URL
    public var credential: Credential
    public var trust: Trust
    public var namespace: String
    /// A Prometheus text endpoint with every node's DCGM series, when one is given.
    public var gpuMetricsURL: URL?
    /// Seconds a node may be NotReady (or tainted `NoExecute`) before its instances are placed elsewhere: a kubelet
    /// restart is not a lost node.
    public var nodeLostGraceSeconds: Double = 60

    public init(server: URL, credential: Credential = .none, trust: Trust = .system, namespace: String = Self.defaultNamespace,
                gpuMetricsURL: URL? = nil) {
        self.server = server
        self.credential = credential
        self.trust = trust
        self.namespace = namespace
        self.gpuMetricsURL = gpuMetricsURL
    }

    /// The files this configuration was read from, by field (`tokenFile`, `caFile`, `kubeconfig`).
    public var files: [String: String] = [:]

    /// The fields naming a file inside `directory` (symbolic links resolved).
    public func fileFields(under directory: String) -> [String] {
        let root = URL(fileURLWithPath: directory).resolvingSymlinksInPath().path
        return files.filter { _, path in
            let resolved = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
            return resolved == root || resolved.hasPrefix(root + "/")
        }.map { $0.key.hasPrefix("kubeconfig.") ? "kubeconfig" : $0.key }.sorted()
    }

    /// The fields `config.kubernetes` may have.
    static let knownFields: Set<String> = [
        "server", "token", "tokenFile", "caData", "caFile", "insecureSkipTLSVerify", "namespace", "kubeconfig", "context", "gpuMetricsURL",
        "nodeLostGraceSeconds",
    ]

    /// Reads `config.kubernetes` at `path`. `openSecret` opens a sealed token. Files named (`tokenFile`, `caFile`,
    /// `kubeconfig`) are read now, so a bad path is an error naming the field.
    public static func read(_ object: [String: JSONValue], at path: FieldPath,
                            openSecret: (JSONValue) throws -> JSONValue = { $0 }) throws(APIError) -> KubernetesSettings {
        var reader = FieldReader()
        reader.rejectUnknownFields(object, known: knownFields, at: path)
        let namespace = reader.string(object, "namespace", at: path) ?? defaultNamespace
        if let problem = BlockID.problem(namespace) { reader.fail(path / "namespace", problem.replacingOccurrences(of: "(a DNS label)", with: "")) }
        var gpuMetricsURL: URL?
        if let text = reader.string(object, "gpuMetricsURL", at: path) {
            gpuMetricsURL = httpURL(text)
            if gpuMetricsURL == nil { reader.fail(path / "gpuMetricsURL", "expected an http:// or https:// URL, got \"\(text)\"") }
        }
        let grace = reader.number(object, "nodeLostGraceSeconds", at: path, minimum: 0) ?? 60
        if let kubeconfig = reader.string(object, "kubeconfig", at: path) {
            for field in ["server", "token", "tokenFile", "caData", "caFile", "insecureSkipTLSVerify"] where object[field] != nil {
                reader.fail(path / field, "cannot be given with kubeconfig: the kubeconfig's context says it")
            }
            let context = reader.string(object, "context", at: path)
            try reader.check()
            do {
                let file = try KubeConfig.load(path: kubeconfig)
                var settings = try file.settings(context: context)
                settings.files["kubeconfig"] = kubeconfig
                if object["namespace"] != nil || settings.namespace.isEmpty { settings.namespace = namespace }
                settings.gpuMetricsURL = gpuMetricsURL
                settings.nodeLostGraceSeconds = grace
                return settings
            } catch let error as KubeConfig.Problem {
                throw APIError.validation([FieldError(path: error.field == "context" ? path / "context" : path / "kubeconfig", message: error.message)])
            } catch {
                throw APIError.validation([FieldError(path: path / "kubeconfig", message: "\(error)")])
            }
        }
        if object["context"] != nil { reader.fail(path / "context", "needs kubeconfig") }

        let serverText = reader.string(object, "server", at: path, required: true)
        let server = serverText.flatMap(httpURL)
        if let serverText, server == nil { reader.fail(path / "server", "expected an https:// (or http://) URL, got \"\(serverText)\"") }

        var credential = Credential.none
        switch (object["token"], reader.string(object, "tokenFile", at: path)) {
        case (.some, .some):
            reader.fail(path / "tokenFile", "give token or tokenFile, not both")
        case (.some(let value), nil):
            do {
                guard let token = try openSecret(value).stringValue, !token.isEmpty else {
                    reader.fail(path / "token", "expected a non-empty string")
                    break
                }
                credential = .token(token)
            } catch {
                reader.fail(path / "token", "cannot be opened: \(error)")
            }
        case (nil, .some(let file)):
            if let problem = SmallFile.problem(file) { reader.fail(path / "tokenFile", problem) }
            credential = .tokenFile(file)
        case (nil, nil):
            break
        }

        var trust = Trust.system
        let insecure = reader.bool(object, "insecureSkipTLSVerify", at: path) ?? false
        let caData = reader.string(object, "caData", at: path)
        let caFile = reader.string(object, "caFile", at: path)
        if [caData != nil, caFile != nil, insecure].filter({ $0 }).count > 1 {
            reader.fail(path / "caData", "give one of caData, caFile and insecureSkipTLSVerify")
        } else if let caData {
            if let pem = Data(base64Encoded: caData, options: .ignoreUnknownCharacters).flatMap({ String(data: $0, encoding: .utf8) }),
               pem.contains("-----BEGIN CERTIFICATE-----") {
                trust = .certificateAuthority(pem: pem)
            } else {
                reader.fail(path / "caData", "expected base64 of a PEM CA certificate (as in a kubeconfig's certificate-authority-data)")
            }
        } else if let caFile {
            if let problem = SmallFile.problem(caFile) {
                reader.fail(path / "caFile", problem)
            } else if let pem = try? String(contentsOfFile: caFile, encoding: .utf8), pem.contains("-----BEGIN CERTIFICATE-----") {
                trust = .certificateAuthority(pem: pem)
            } else {
                reader.fail(path / "caFile", "cannot read a PEM CA certificate from \(caFile)")
            }
        } else if insecure {
            trust = .insecure
        }
        if let server, server.scheme?.lowercased() == "http", credential != .none {
            reader.fail(path / "server", "a token is sent only over https; this server is http")
        }
        try reader.check()
        guard let server else { throw APIError.validation(reader.errors) }
        var settings = KubernetesSettings(server: server, credential: credential, trust: trust, namespace: namespace, gpuMetricsURL: gpuMetricsURL)
        settings.nodeLostGraceSeconds = grace
        if case .tokenFile(let file) = credential { settings.files["tokenFile"] = file }
        if let caFile { settings.files["caFile"] = caFile }
        return settings
    }

    static func httpURL(_ text: String) -> URL? {
        guard let url = URL(string: text), let scheme = url.scheme?.lowercased(), scheme == "https" || scheme == "http", url.host != nil else { return nil }
        return url
    }
}

/// Files a cluster's configuration names (a token, a CA, a kubeconfig) are small regular files: a FIFO or a device
/// would block the reader, a huge file would fill memory.
enum SmallFile {
    static let limit = 4 << 20

    /// Why `path` cannot be read as such a file, or `nil`.
    static func problem(_ path: String) -> String? {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path) else { return "cannot read \(path)" }
        guard attributes[.type] as? FileAttributeType == .typeRegular else { return "\(path) is not a regular file" }
        if let size = attributes[.size] as? NSNumber, size.intValue > limit { return "\(path) is larger than \(limit >> 20) MiB" }
        guard FileManager.default.isReadableFile(atPath: path) else { return "cannot read \(path)" }
        return nil
    }
}
