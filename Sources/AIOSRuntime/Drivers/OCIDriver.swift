import AIOSModel
import Foundation
import Logging

/// Runs a component's OCI image with the container engine (podman or docker) on this host: one container per
/// instance, named after it, on the host's network, its block file mounted read-only, CPUs and memory from
/// its allocation, and its GPUs as devices (only where they are this machine's). The engine's client runs
/// as a process run (`ProcessRun`), so the container's output is the instance's log and its exit the
/// instance's exit. Images are pulled before (`ImagePuller`).
public struct OCIDriver: InstanceDriver {
    public let name = "oci"
    public var pullsImagesHere: Bool { true }
    public let engine: OCIEngine
    /// Labels every container with the data directory, so a restarted platform finds its own and no other's.
    public let dataDirectory: URL
    /// Where the engine clients' run files are kept (with the process driver's).
    public let runDirectory: URL
    public let host: String
    /// Pass the allocation's GPUs as devices (`false` for simulated nodes, whose GPUs are not this machine's).
    public let passesDevices: Bool
    let logger: Logger

    public init(engine: OCIEngine, dataDirectory: URL, runDirectory: URL, host: String = "127.0.0.1", passesDevices: Bool = true, logger: Logger) {
        self.engine = engine
        self.dataDirectory = dataDirectory
        self.runDirectory = runDirectory
        self.host = host
        self.passesDevices = passesDevices
        self.logger = logger
    }

    public var runsOnRealGPUs: Bool { passesDevices }

    public func refusal(for workload: InstanceWorkload.Kind) -> String? {
        workload == .image ? nil : "the OCI driver runs images, not host commands"
    }

    /// The container's name: one per instance, so a restart replaces it.
    public static func containerName(_ key: InstanceKey) -> String {
        "aios-\(key.blockId)-\(key.instanceId)"
    }

    private var dataLabel: String { "aios.data=\(dataDirectory.path)" }

    public func start(_ launch: InstanceLaunch) async throws -> any InstanceRun {
        guard case .image(let image) = launch.workload else { throw DriverError("the OCI driver cannot run \(launch.workload)") }
        let name = Self.containerName(launch.key)
        var environment = launch.environment
        let devices = passesDevices ? launch.gpus : []
        // Inside the container its GPUs are numbered from 0.
        environment["CUDA_VISIBLE_DEVICES"] = devices.indices.map(String.init).joined(separator: ",")
        environment["NVIDIA_VISIBLE_DEVICES"] = devices.isEmpty ? "void" : devices.joined(separator: ",")
        let cpus = launch.cpus.map { min($0, Double(ProcessInfo.processInfo.activeProcessorCount)) }
        let container = OCIEngine.Container(
            name: name, image: image, environmentNames: Array(environment.keys) + ["AIOS_LISTEN"], readOnlyMounts: [launch.blockFile],
            cpus: cpus, memoryMB: launch.memoryMB, gpus: devices,
            labels: ["aios.block": launch.blockId, "aios.instance": launch.instanceId, "aios.data": dataDirectory.path])
        // The engine client itself needs PATH and HOME; only the instance's variables go into the container.
        var clientEnvironment = LaunchEnvironment.base(pythonVirtualEnv: nil)
        clientEnvironment.merge(environment) { _, instance in instance }
        return try ProcessRun.spawn(driver: self.name, command: engine.runCommand(container), cwd: "/", environment: clientEnvironment,
                                    logPath: launch.logPath, host: host, runFile: runFile(launch.key), key: launch.key, name: name,
                                    afterExit: engine.removeCommand(name: name))
    }

    private func runFile(_ key: InstanceKey) -> RunFile {
        RunFile(url: runDirectory.appendingPathComponent("instances/\(key.blockId)/\(key.instanceId).json"))
    }

    /// Containers an earlier run left (their engine clients were killed with it) are removed: they start afresh.
    /// The clients themselves are the process driver's leftovers.
    public func reconcile(recorded: [InstanceKey: InstanceRecord]) async -> [InstanceKey: any InstanceRun] {
        for name in await engine.containers(label: dataLabel) {
            _ = await CommandOutput.run(engine.removeCommand(name: name), timeout: 30)
            logger.notice("removed a container left by an earlier run", metadata: ["container": "\(name)"])
        }
        return [:]
    }

    /// `ENGINE run --rm` of the job's image, its variables passed by name and its state directories mounted.
    public func runJob(_ job: JobLaunch, onLine: @escaping @Sendable (Substring) async -> Void) async -> ProgramEnding {
        guard case .image(let image) = job.workload else { return .notStarted("the OCI driver runs images, not host commands") }
        let name = "aios-job-\(job.name)"
        var container = OCIEngine.Container(name: name, image: image, environmentNames: Array(job.environment.keys),
                                            labels: ["aios.job": job.name, "aios.data": dataDirectory.path])
        container.readWriteMounts = job.mounts
        var environment = LaunchEnvironment.base(pythonVirtualEnv: nil)
        environment.merge(job.environment) { _, job in job }
        let runFile = RunFile(url: runDirectory.appendingPathComponent("jobs/\(job.name).json"))
        defer { runFile.remove() }
        let logger = self.logger
        let ending = await ProgramRun.run(command: engine.runCommand(container), cwd: "/", environment: environment, logPath: job.logPath,
                                          timeout: job.timeout, grace: job.grace, onSpawn: { child in
            do {
                try runFile.record(child, details: ["job": .string(job.name)])
            } catch {
                logger.error("cannot record the running job; a restart after a crash will not stop it",
                             metadata: ["job": "\(job.name)", "pid": "\(child.pid)", "error": "\(error)"])
            }
        }, onLine: onLine)
        _ = await CommandOutput.run(engine.removeCommand(name: name), timeout: 30)
        return ending
    }
}
