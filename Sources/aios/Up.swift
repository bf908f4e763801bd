import AIOSPolicy
import AIOSServer
import ArgumentParser
import Foundation
import Logging

struct Up: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the platform in one process: management plane, registries, and this machine as cluster `local`.")

    @Option(help: "Where registries and logs live.")
    var dataDir: String = FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".aios").path

    @Option(help: "Address to listen on.")
    var host: String = "127.0.0.1"

    @Option(help: "HTTP API port (0 picks a free port; the ready line tells which).")
    var httpPort: Int = 8420

    @Option(help: "gRPC inference gateway port (0 picks a free port; the gateway line tells which).")
    var grpcPort: Int = 50052

    @Option(help: "Seconds after which a node's metrics are stale and the node is not placed on.")
    var metricsTTL: Double = 30

    @Option(help: "Seconds between samples of this machine's metrics.")
    var metricsInterval: Double = 10

    @Option(help: "Python virtualenv for instances (its bin/ leads their PATH); default $AIOS_PYTHON_VENV.")
    var pythonVenv: String? = ProcessInfo.processInfo.environment["AIOS_PYTHON_VENV"]

    @Option(help: "Container engine for components that are OCI images: auto (podman, else docker), podman, docker or none.")
    var ociEngine: String = ProcessInfo.processInfo.environment["AIOS_OCI_ENGINE"] ?? "auto"

    @Option(help: "A flag every container run needs on this host (repeat it; replaces the detected ones), e.g. --oci-flag=--runtime=/usr/sbin/runc.")
    var ociFlag: [String] = []

    @Option(help: "Bearer tokens on every route but /healthz: on (default), or off (accepted only on a loopback --host).")
    var auth: String = "on"

    @Option(help: "PEM certificate chain: with --tls-key, HTTP and gRPC are served over TLS.")
    var tlsCert: String?

    @Option(help: "PEM private key of --tls-cert.")
    var tlsKey: String?

    @Option(help: "Seconds an HTTP connection may send nothing (idle, or stalled in its headers or body) before it is closed.")
    var httpIdleTimeout: Double = 15

    @Flag(help: "Keep a removed block's instance logs (by default they go with the block).")
    var keepLogs = false

    @Option(name: .customLong("model-dir"), help: "A directory split tasks may read models from (repeat it); no other host file is opened as a model.")
    var modelDirectories: [String] = []

    @Option(help: "Python with the policy SDK (aios_policy): checks policy archives and starts their workers; default $AIOS_POLICY_PYTHON, else the --python-venv's python, else python3.")
    var policyPython: String? = ProcessInfo.processInfo.environment["AIOS_POLICY_PYTHON"]

    @Option(help: "How custom policies are contained: bwrap (default: bubblewrap, no network, read-only root, rlimits) or rlimits-only (where bubblewrap cannot run; no isolation beyond resource limits).")
    var policySandbox: String = "bwrap"

    @Option(help: "The bubblewrap program that sandboxes custom policies.")
    var policyBwrap: String = "bwrap"

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

    func validate() throws {
        guard PolicySandboxMode(rawValue: policySandbox) != nil else {
            throw ValidationError("--policy-sandbox must be bwrap or rlimits-only")
        }
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error, critical")
        }
        guard ["auto", "podman", "docker", "none"].contains(ociEngine) else {
            throw ValidationError("--oci-engine must be auto, podman, docker or none, got \(ociEngine)")
        }
        guard metricsTTL > 0, metricsInterval > 0 else {
            throw ValidationError("--metrics-ttl and --metrics-interval must be positive")
        }
        guard httpIdleTimeout >= 1, httpIdleTimeout <= 3600 else {
            throw ValidationError("--http-idle-timeout must be between 1 and 3600 seconds")
        }
        guard ["on", "off"].contains(auth) else {
            throw ValidationError("--auth must be on or off, got \(auth)")
        }
        if auth == "off", !["localhost", "::1"].contains(host), !host.hasPrefix("127.") {
            throw ValidationError("--auth off is accepted only when aios up listens on loopback (--host 127.0.0.1), not on \(host)")
        }
        if (tlsCert == nil) != (tlsKey == nil) {
            throw ValidationError("--tls-cert and --tls-key go together")
        }
        for (name, path) in [("--tls-cert", tlsCert), ("--tls-key", tlsKey)] {
            if let path, !FileManager.default.isReadableFile(atPath: path) {
                throw ValidationError("\(name) \(path) is not a readable file")
            }
        }
        for (name, port) in [("--http-port", httpPort), ("--grpc-port", grpcPort)] where !(0...65535).contains(port) {
            throw ValidationError("\(name) must be between 0 and 65535, got \(port)")
        }
        for directory in modelDirectories {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw ValidationError("--model-dir \(directory) is not a directory")
            }
        }
    }

    func run() async throws {
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "aios")
        var configuration = EmbeddedPlatform.Configuration(
            dataDirectory: URL(fileURLWithPath: dataDir, isDirectory: true),
            host: host, httpPort: httpPort, grpcPort: grpcPort,
            metricsTTL: metricsTTL, metricsInterval: metricsInterval)
        configuration.pythonVirtualEnv = pythonVenv.map { URL(fileURLWithPath: $0).standardizedFileURL.path }
        configuration.ociEngine = ociEngine
        configuration.ociFlags = ociFlag.isEmpty ? nil : ociFlag
        configuration.authentication = auth == "on"
        configuration.tlsCertificatePath = tlsCert
        configuration.tlsKeyPath = tlsKey
        configuration.keepLogs = keepLogs
        configuration.httpIdleTimeout = httpIdleTimeout
        configuration.modelDirectories = modelDirectories.map { URL(fileURLWithPath: $0).standardizedFileURL.path }
        configuration.policyPython = policyPython ?? configuration.pythonVirtualEnv.map { "\($0)/bin/python" } ?? "python3"
        configuration.policySandbox = PolicySandboxMode(rawValue: policySandbox) ?? .bwrap
        configuration.policyBwrap = policyBwrap
        let platform = EmbeddedPlatform(configuration: configuration, logger: logger)
        try await platform.run { url, grpcAddress in
            // Unbuffered, so whoever waits for these lines sees them at once.
            FileHandle.standardOutput.write(Data("aios gateway: grpc://\(grpcAddress)\naios ready: \(url)\n".utf8))
        }
    }
}
