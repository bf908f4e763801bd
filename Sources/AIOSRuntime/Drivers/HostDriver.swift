import AIOSModel
import Foundation

/// This machine's driver, the `local` cluster's default: a component's command runs as a process
/// (`ProcessDriver`), its OCI image as a container (`OCIDriver`) when a container engine is installed.
public struct HostDriver: InstanceDriver {
    public let name = "host"
    public var pullsImagesHere: Bool { true }
    public let process: ProcessDriver
    /// The OCI driver, or why there is none.
    public let oci: Result<OCIDriver, OCIEngineError>

    public init(process: ProcessDriver, oci: Result<OCIDriver, OCIEngineError>) {
        self.process = process
        self.oci = oci
    }

    public func refusal(for workload: InstanceWorkload.Kind) -> String? {
        switch (workload, oci) {
        case (.command, _), (.image, .success): nil
        case (.image, .failure(let error)): "the component runs as an OCI image, and \(error.description)"
        }
    }

    private func driver(for workload: InstanceWorkload) throws -> any InstanceDriver {
        switch workload {
        case .command: return process
        case .image: return try oci.get()
        }
    }

    public func start(_ launch: InstanceLaunch) async throws -> any InstanceRun {
        try await driver(for: launch.workload).start(launch)
    }

    public func reconcile(recorded: [InstanceKey: InstanceRecord]) async -> [InstanceKey: any InstanceRun] {
        if case .success(let oci) = oci { _ = await oci.reconcile(recorded: recorded) }
        return await process.reconcile(recorded: recorded)
    }

    public func runJob(_ job: JobLaunch, onLine: @escaping @Sendable (Substring) async -> Void) async -> ProgramEnding {
        do {
            return try await driver(for: job.workload).runJob(job, onLine: onLine)
        } catch {
            return .notStarted("\(error)")
        }
    }
}

/// The driver of simulated clusters (every cluster but `local` unless it names another): their nodes and
/// GPUs are descriptions, and their instances run on this machine like the host driver's, with the GPU ids
/// of their allocation in `CUDA_VISIBLE_DEVICES` and no device passed to a container. Their block files say
/// `"simulated": true`.
public struct SimulatedDriver: InstanceDriver {
    public let name = "simulated"
    public var pullsImagesHere: Bool { true }
    private let host: HostDriver

    public init(host: HostDriver) {
        let oci = host.oci.map { oci in
            OCIDriver(engine: oci.engine, dataDirectory: oci.dataDirectory, runDirectory: oci.runDirectory, host: oci.host, passesDevices: false,
                      logger: oci.logger)
        }
        self.host = HostDriver(process: host.process, oci: oci)
    }

    public var runsOnRealGPUs: Bool { false }

    public func refusal(for workload: InstanceWorkload.Kind) -> String? {
        host.refusal(for: workload)
    }

    public func start(_ launch: InstanceLaunch) async throws -> any InstanceRun {
        try await host.start(launch)
    }

    /// What it runs is the host driver's to reconcile (the same run files and containers).
    public func reconcile(recorded: [InstanceKey: InstanceRecord]) async -> [InstanceKey: any InstanceRun] {
        [:]
    }

    public func runJob(_ job: JobLaunch, onLine: @escaping @Sendable (Substring) async -> Void) async -> ProgramEnding {
        await host.runJob(job, onLine: onLine)
    }
}
