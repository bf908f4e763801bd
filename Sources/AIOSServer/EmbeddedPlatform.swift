import AIOSBlock
import AIOSGateway
import AIOSKubernetes
import AIOSMetrics
import AIOSModel
import AIOSPolicy
import AIOSRuntime
import AIOSSplits
import AIOSStore
import AIOSVDAG
import AIOSWire
import Crypto
import Foundation
import Hummingbird
import Logging
import ServiceLifecycle

/// `aios up`: the management plane, registries and this machine as cluster `local`, in one process.
public struct EmbeddedPlatform: Sendable {
    public struct Configuration: Sendable {
        public var dataDirectory: URL
        public var host: String
        public var httpPort: Int
        /// The gRPC inference gateway (`BlockInferenceService`); 0 picks a free port.
        public var grpcPort: Int
        /// Node metrics older than this are stale: the node is not placed on.
        public var metricsTTL: TimeInterval
        /// How often this machine's metrics are sampled.
        public var metricsInterval: TimeInterval
        /// A Python virtualenv whose `bin` leads instances' `PATH` (where the `aios_instance` SDK is installed).
        public var pythonVirtualEnv: String?
        /// `auto`, `podman`, `docker` or `none`.
        public var ociEngine = "auto"
        /// Flags every container run needs on this host; `nil`: detected.
        public var ociFlags: [String]?
        /// Bearer tokens on every route but `/healthz` (`--auth off` turns this off, on loopback only).
        public var authentication = true
        /// PEM files: with both, HTTP and gRPC are served over TLS.
        public var tlsCertificatePath: String?
        public var tlsKeyPath: String?
        /// Keep a removed block's instance logs (`--keep-logs`); by default they go with the block.
        public var keepLogs = false
        /// Seconds an HTTP connection may send nothing before it is closed (idle, or stalled mid-request).
        public var httpIdleTimeout: Double = 15
        /// Directories split tasks may read models from (`--model-dir`).
        public var modelDirectories: [String] = []
        /// The Python that has the policy SDK (`aios_policy`): it checks archives and starts policy workers.
        public var policyPython = "python3"
        /// How custom policy workers are contained (`--policy-sandbox`).
        public var policySandbox = PolicySandboxMode.bwrap
        /// The bubblewrap program (`--policy-bwrap`).
        public var policyBwrap = "bwrap"

        public init(dataDirectory: URL, host: String = "127.0.0.1", httpPort: Int = 8420, grpcPort: Int = 50052,
                    metricsTTL: TimeInterval = 30, metricsInterval: TimeInterval = 10) {
            self.dataDirectory = dataDirectory
            self.host = host
            self.httpPort = httpPort
            self.grpcPort = grpcPort
            self.metricsTTL = metricsTTL
            self.metricsInterval = metricsInterval
            self.pythonVirtualEnv = nil
        }

        public var databasePath: String { dataDirectory.appendingPathComponent("aios.db").path }
    }

    public let configuration: Configuration
    let logger: Logger
    /// HTTP connections open at once; more wait in the listen backlog (with the idle timeout, a flood of half-sent
    /// requests cannot exhaust memory).
    static let maxConnections = 1024

    public init(configuration: Configuration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    /// This platform's id on Kubernetes clusters (label `aios.platform`): derived from its data directory's secret
    /// key, so it is stable across restarts and differs between platforms sharing a namespace.
    static func platformId(_ secrets: SecretBox) -> String {
        let key = secrets.derivedKey(purpose: "kubernetes-platform-id").withUnsafeBytes { Data($0) }
        return SHA256.hash(data: key).prefix(6).map { String(format: "%02x", $0) }.joined()
    }

    /// Runs until SIGINT or SIGTERM, then shuts down gracefully.
    /// `onReady` receives the URL the HTTP API serves on and the gRPC gateway's `host:port`, once both
    /// accept connections.
    public func run(onReady: @escaping @Sendable (_ httpURL: String, _ grpcAddress: String) -> Void) async throws {
        // Everything the platform writes (database, block files, logs, tokens) is private to its user: files 0600,
        // directories 0700. Instances inherit the mask.
        umask(0o077)
        let manager = FileManager.default
        try manager.createDirectory(at: configuration.dataDirectory, withIntermediateDirectories: true)
        try manager.setAttributes([.posixPermissions: 0o700], ofItemAtPath: configuration.dataDirectory.path)
        let registry = try SQLiteRegistry(path: configuration.databasePath)
        for suffix in ["", "-wal", "-shm"] where manager.fileExists(atPath: configuration.databasePath + suffix) {
            try manager.setAttributes([.posixPermissions: 0o600], ofItemAtPath: configuration.databasePath + suffix)
        }
        logger.info("registry open", metadata: ["path": "\(configuration.databasePath)"])
        let secrets = try SecretBox(dataDirectory: configuration.dataDirectory)
        let security = try await PlatformSecurity.make(configuration: configuration, registry: registry, secrets: secrets, logger: logger)

        let metrics = LiveMetrics(ttl: configuration.metricsTTL)
        let policies = CustomPolicies(
            configuration: .init(python: configuration.policyPython, sandbox: configuration.policySandbox,
                                 directory: configuration.dataDirectory.appendingPathComponent("policies"), bwrap: configuration.policyBwrap),
            logger: logger)
        try await PolicyRegistrations.load(registry: registry, into: policies, logger: logger)
        await policies.prepareIfNeeded()
        await policies.setEventSink { [logger] blockId, event in
            do {
                _ = try await registry.transition(blockId: blockId) { block, _ in BlockTransition(block: block, events: [event]) }
            } catch {
                logger.debug("a policy event has no block to go to", metadata: ["owner": "\(blockId)", "error": "\(error)"])
            }
        }
        let executors = Executors(policies: policies)
        let oci = await OCIEngine.detect(preference: configuration.ociEngine, flags: configuration.ociFlags)
        switch oci {
        case .success(let engine):
            logger.info("OCI engine", metadata: ["engine": "\(engine.kind.rawValue)", "flags": "\(engine.hostFlags.joined(separator: " "))", "why": "\(engine.notes.joined(separator: "; "))"])
        case .failure(let error):
            logger.notice("components that are OCI images cannot run", metadata: ["reason": "\(error.description)"])
        }
        let registries = ContainerRegistries(registry: registry, secrets: secrets,
                                             dataDirectory: configuration.dataDirectory, logger: logger)
        let runDirectory = configuration.dataDirectory.appendingPathComponent("run")
        let process = ProcessDriver(runDirectory: runDirectory, pythonVirtualEnv: configuration.pythonVirtualEnv, logger: logger)
        let hostDriver = HostDriver(process: process, oci: oci.map { OCIDriver(engine: $0, dataDirectory: configuration.dataDirectory, runDirectory: runDirectory, logger: self.logger) })
        let kubernetesSet = KubernetesClusterSet()
        // Every driver a cluster may name: a new one is one entry here.
        let drivers = InstanceDrivers([hostDriver, SimulatedDriver(host: hostDriver),
                                       KubernetesDriver(clusters: kubernetesSet, registries: registries, logger: logger)])
        let kubernetes = KubernetesClusters(set: kubernetesSet, registry: registry, metrics: metrics, secrets: BlockSecrets(box: secrets),
                                            platformId: Self.platformId(secrets), metricsInterval: configuration.metricsInterval, logger: logger)
        var instanceConfiguration = InstanceManager.Configuration(files: BlockFiles(dataDirectory: configuration.dataDirectory, secrets: BlockSecrets(box: secrets)))
        if case .success(let engine) = oci {
            instanceConfiguration.puller = ImagePuller(engine: engine, registries: registries,
                                                       scratch: configuration.dataDirectory.appendingPathComponent("secrets/pull"), timeout: 900)
        }
        instanceConfiguration.keepLogs = configuration.keepLogs
        let instances = InstanceManager(registry: registry, routing: executors, drivers: drivers, configuration: instanceConfiguration, logger: logger)
        let thirdParty = ThirdPartyDeployer(
            registry: registry, instances: instances,
            configuration: .init(dataDirectory: configuration.dataDirectory, secrets: BlockSecrets(box: secrets)),
            logger: logger)
        var controlPlane = ControlPlane(registry: registry, metrics: metrics, instances: instances, thirdParty: thirdParty,
                                        secrets: BlockSecrets(box: secrets), policies: policies, logger: logger)
        controlPlane.kubernetes = kubernetes
        controlPlane.kubernetesProtectedDirectory = configuration.dataDirectory.resolvingSymlinksInPath().path
        let sampler = ProcessSampler()
        let scaler = BlockScaler(registry: registry, executors: executors, instances: instances, placement: controlPlane.placement,
                                 sampler: sampler, metrics: metrics, logger: logger, policies: policies)
        try await controlPlane.registerLocalCluster(HostInventory.collect())
        let localMetrics = LocalMetricsService(
            metrics: metrics, clusterId: ControlPlane.localClusterId, nodeId: ControlPlane.localNodeId,
            interval: configuration.metricsInterval, logger: logger)
        await localMetrics.sampleOnce()
        await kubernetes.setRelocation { blockId, instanceIds, reason in
            await scaler.relocate(blockId: blockId, instanceIds: instanceIds, reason: reason)
        }
        // Kubernetes clusters first: their pods are reconciled with the records like every driver's runs.
        await kubernetes.connectAll()
        do {
            try await controlPlane.resumeInterruptedWork()
        } catch {
            await thirdParty.shutdown()
            await instances.shutdown()
            await kubernetes.shutdown()
            throw error
        }

        let host = configuration.host
        let vdags = VDAGService(registry: registry, executors: executors, host: host, security: security.grpc(scope: .infer), policies: policies, logger: logger)
        await vdags.startAll()
        let splits = try SplitService(
            registry: registry, blocks: controlPlane, metrics: metrics, splitterDriver: hostDriver, vdags: vdags, executors: executors,
            configuration: .init(dataDirectory: configuration.dataDirectory,
                                 modelDirectories: configuration.modelDirectories),
            logger: logger)
        try await splits.resume()
        let gateway = InferenceGateway(executors: executors, directory: RegistryBlockDirectory(registry: registry), logger: logger)
        let grpcGateway = GatewayGRPCServer(gateway: gateway, host: host, port: configuration.grpcPort, security: security.grpc(scope: .infer), logger: logger)
        let logger = self.logger
        let app = Application(
            router: HTTPAPI(controlPlane: controlPlane, gateway: gateway, sampler: sampler, vdags: vdags, splits: splits, registries: registries,
                            scaler: scaler, security: security, policies: PolicyRegistrations(registry: registry, policies: policies, logger: logger)).router(),
            server: try security.httpServer(idleTimeout: configuration.httpIdleTimeout),
            configuration: .init(address: .hostname(host, port: configuration.httpPort), serverName: "aios",
                                 availableConnectionsDelegate: .maximum(Self.maxConnections, logger: logger)),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? 0
                let scheme = security.tls == nil ? "http" : "https"
                do {
                    let grpcAddress = try await grpcGateway.listeningAddress
                    await splits.serving(at: "\(scheme)://\(host):\(port)", artifacts: security.artifacts)
                    logger.info("inference gateway serving", metadata: ["grpc": "\(grpcAddress)", "http": "\(scheme)://\(host):\(port)/v1"])
                    onReady("\(scheme)://\(host):\(port)", grpcAddress)
                } catch {
                    logger.critical("the gRPC gateway cannot listen", metadata: ["port": "\(configuration.grpcPort)", "error": "\(error)"])
                }
            },
            logger: logger)
        let services = ServiceGroup(
            configuration: .init(services: [localMetrics, InstanceShutdownService(instances: instances, thirdParty: thirdParty, vdags: vdags, splits: splits, policies: policies, kubernetes: kubernetes), scaler, grpcGateway, app],
                                 gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await services.run()
        logger.info("aios stopped")
    }
}

/// Stops vDAG controllers, running init programs and every instance when `aios up` shuts down gracefully.
struct InstanceShutdownService: Service {
    let instances: InstanceManager
    let thirdParty: ThirdPartyDeployer
    let vdags: VDAGService
    let splits: SplitService
    let policies: CustomPolicies
    let kubernetes: KubernetesClusters

    func run() async throws {
        try? await gracefulShutdown()
        // In a task of its own: when the group is cancelled (a service failed), stopping must still wait out
        // each instance's grace period rather than spin.
        await Task {
            await splits.shutdown()
            await vdags.shutdown()
            await thirdParty.shutdown()
            await instances.shutdown()
            await kubernetes.shutdown()
            await policies.shutdown()
        }.value
    }
}
