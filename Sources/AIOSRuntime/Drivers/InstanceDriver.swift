import AIOSModel
import Foundation

/// Where and how instances run: processes on this host, OCI containers, simulated nodes, (later) pods of a
/// Kubernetes cluster. A cluster names its driver; the instance runtime supervises every instance through
/// one, so a new place to run needs a new driver and one registration line (`InstanceDrivers`), nothing else.
///
/// A driver starts one *run* of an instance at a time; restarts, backoff and readiness are the supervisor's.
public protocol InstanceDriver: Sendable {
    /// The name clusters and instance records use (`process`, `oci`, `host`, `simulated`, ...).
    var name: String { get }

    /// Why the driver cannot run `workload`, or `nil` when it can (checked when a block is created).
    func refusal(for workload: InstanceWorkload.Kind) -> String?

    /// Whether its instances' GPUs are this machine's (`false` on simulated nodes).
    var runsOnRealGPUs: Bool { get }

    /// Whether images are pulled on this machine before its instances start (a Kubernetes node pulls its own).
    var pullsImagesHere: Bool { get }

    /// Starts one run of an instance. Returns once it is started (not yet ready); its `states` tell the rest.
    func start(_ launch: InstanceLaunch) async throws -> any InstanceRun

    /// After a restart of `aios up`, before anything starts: makes what the driver runs match `recorded`.
    /// What it can adopt is returned by instance key (a Kubernetes pod outlives the platform); everything
    /// else it runs for this platform (a process an earlier run left, a container) is stopped.
    func reconcile(recorded: [InstanceKey: InstanceRecord]) async -> [InstanceKey: any InstanceRun]

    /// Part of an instance's log: the last `tailLines`, or what follows `offset`.
    func log(of instance: InstanceRecord, offset: Int?, tailLines: Int) async -> LogChunk

    /// Whether its runs outlive `aios up` (pods do): at shutdown they are left running, and the next start adopts them.
    var keepsRunsAcrossRestarts: Bool { get }

    /// After an instance is gone for good (scaled down, its block removed; `instanceId` nil for every instance
    /// of the block) on `clusterId` (`nil` when not known): removes what the driver made for it beyond its runs
    /// (a pod's ConfigMap and Secrets).
    func release(blockId: String, instanceId: String?, clusterId: String?) async

    /// Runs a job to completion (an init program, a splitter): each complete line of its output goes to
    /// `onLine` as it is written; stopped (graceful, then forced) at its timeout or when the task is cancelled.
    func runJob(_ job: JobLaunch, onLine: @escaping @Sendable (Substring) async -> Void) async -> ProgramEnding
}

extension InstanceDriver {
    public var runsOnRealGPUs: Bool { true }

    public var pullsImagesHere: Bool { false }

    public var keepsRunsAcrossRestarts: Bool { false }

    public func release(blockId: String, instanceId: String?, clusterId: String?) async {}

    public func log(of instance: InstanceRecord, offset: Int?, tailLines: Int) async -> LogChunk {
        InstanceLogs.read(instance.logPath, offset: offset, tailLines: tailLines)
    }
}

/// A block's instance, as drivers key what they run.
public struct InstanceKey: Hashable, Sendable, CustomStringConvertible {
    public var blockId: String
    public var instanceId: String

    public init(blockId: String, instanceId: String) {
        self.blockId = blockId
        self.instanceId = instanceId
    }

    public var description: String { "\(blockId)/\(instanceId)" }
}

/// The state of one run of an instance, as its driver observes it.
public enum InstanceState: Sendable, Equatable {
    /// Started; not yet running (a pod being scheduled, an image being unpacked).
    case starting
    /// Not yet running, and why, as its driver reports it (a pod whose image cannot be pulled, a pod waiting
    /// for its node): the supervisor reports it and keeps waiting.
    case waiting(reason: String)
    /// Running, serving (or about to serve) at `address`.
    case running(address: String)
    /// Its program ended with `status` (128 + the signal when killed).
    case exited(status: Int32)
    /// The driver lost track of it (a node gone, a pod deleted from outside): it counts as an exit.
    case lost(reason: String)

    /// Whether the run is over.
    public var isFinal: Bool {
        switch self {
        case .exited, .lost: true
        case .starting, .waiting, .running: false
        }
    }
}

/// What identifies a run where it runs, recorded with the instance so a restarted platform finds it.
public struct RunIdentity: Sendable, Equatable {
    /// The driver that runs it.
    public var driver: String
    /// A process: its id (also its process group's) and the kernel's start time, to tell it from a reused pid.
    public var pid: Int32?
    public var startTime: UInt64?
    /// A container or pod: its name.
    public var name: String?

    public init(driver: String, pid: Int32? = nil, startTime: UInt64? = nil, name: String? = nil) {
        self.driver = driver
        self.pid = pid
        self.startTime = startTime
        self.name = name
    }

    /// `pid 123`, `container aios-b-i`: how events name it.
    public var description: String {
        if let name { return "\(driver == "oci" ? "container" : driver) \(name)" + (pid.map { ", client pid \($0)" } ?? "") }
        return pid.map { "pid \($0)" } ?? driver
    }
}

/// One run of an instance, started by a driver.
public protocol InstanceRun: Sendable {
    var identity: RunIdentity { get }
    /// Where the instance serves.
    var address: String { get }
    /// Its states in order, ending with `.exited` or `.lost`; one consumer (the supervisor).
    var states: AsyncStream<InstanceState> { get }
    /// Asks it to stop (graceful, forced after `grace` seconds) without waiting; its states report the end.
    func terminate(grace: Double)
    /// Stops it (graceful, forced after `grace` seconds) and waits until it is gone, at most `grace` + 5 s.
    /// `false` when it was still there at that limit.
    func stop(grace: Double) async -> Bool
    /// Whether it still runs.
    var isAlive: Bool { get }
    /// Stops following it and leaves it running (its driver keeps runs across restarts); its states end.
    func detach()
}

extension InstanceRun {
    public func detach() {}
}
