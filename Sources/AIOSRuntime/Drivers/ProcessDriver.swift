import AIOSModel
import Foundation
import Logging

/// Runs a component's command as a process on this host, in a process group of its own, with the platform's
/// Python virtualenv first on its `PATH`. Every spawn is recorded in a run file under `runDirectory`, so a
/// platform restarted after a crash stops what its predecessor left (`reconcile`): host processes cannot be
/// adopted, they start afresh.
public struct ProcessDriver: InstanceDriver {
    public let name = "process"
    /// Where run files are kept, one per instance and job.
    public let runDirectory: URL
    public let pythonVirtualEnv: String?
    public let host: String
    /// SIGTERM, then SIGKILL after this many seconds, for leftovers.
    public let terminationGrace: Double
    private let logger: Logger

    public init(runDirectory: URL, pythonVirtualEnv: String?, host: String = "127.0.0.1", terminationGrace: Double = 10, logger: Logger) {
        self.runDirectory = runDirectory
        self.pythonVirtualEnv = pythonVirtualEnv
        self.host = host
        self.terminationGrace = terminationGrace
        self.logger = logger
    }

    public func refusal(for workload: InstanceWorkload.Kind) -> String? {
        workload == .command ? nil : "the process driver runs commands, not OCI images"
    }

    public func start(_ launch: InstanceLaunch) async throws -> any InstanceRun {
        guard case .command(let command, let cwd) = launch.workload else {
            throw DriverError("the process driver cannot run \(launch.workload)")
        }
        var environment = LaunchEnvironment.base(pythonVirtualEnv: pythonVirtualEnv)
        environment.merge(launch.environment) { _, instance in instance }
        return try ProcessRun.spawn(driver: name, command: command, cwd: cwd, environment: environment, logPath: launch.logPath,
                                    host: host, runFile: runFile(launch.key), key: launch.key)
    }

    /// Where the spawns of an instance are recorded.
    func runFile(_ key: InstanceKey) -> RunFile {
        RunFile(url: runDirectory.appendingPathComponent("instances/\(key.blockId)/\(key.instanceId).json"))
    }

    public func reconcile(recorded: [InstanceKey: InstanceRecord]) async -> [InstanceKey: any InstanceRun] {
        let grace = terminationGrace, logger = self.logger
        await withTaskGroup(of: Void.self) { group in
            // Every spawn's run file: the intent recorded before it, the pid after. One whose pid was never
            // recorded (the crash came right after the spawn) is found by the marker in its environment.
            for runFile in Self.runFiles(under: runDirectory) {
                group.addTask {
                    if let record = await runFile.stopLeftover(grace: grace) {
                        logger.notice("stopped a program left by an earlier run", metadata: [
                            "blockId": "\(record["blockId"]?.stringValue ?? "?")", "instanceId": "\(record["instanceId"]?.stringValue ?? "?")",
                            "pid": "\(record["pid"]?.intValue.map(String.init) ?? "not recorded")",
                        ])
                    }
                }
            }
            // Records of stores older than run files.
            for (key, record) in recorded where record.driver == nil || record.driver == name {
                guard let pid = record.pid, let startTime = record.startTime else { continue }
                group.addTask {
                    if await OrphanReaper.stop(pid: pid, startTime: startTime, grace: grace) {
                        logger.notice("stopped an instance left by an earlier run", metadata: ["instance": "\(key)", "pid": "\(pid)"])
                    }
                }
            }
        }
        return [:]
    }

    public func runJob(_ job: JobLaunch, onLine: @escaping @Sendable (Substring) async -> Void) async -> ProgramEnding {
        guard case .command(let command, let cwd) = job.workload else {
            return .notStarted("the process driver runs commands, not OCI images")
        }
        var environment = LaunchEnvironment.base(pythonVirtualEnv: pythonVirtualEnv)
        environment.merge(job.environment) { _, job in job }
        let runFile = RunFile(url: runDirectory.appendingPathComponent("jobs/\(job.name).json"))
        defer { runFile.remove() }
        let logger = self.logger
        return await ProgramRun.run(command: command, cwd: cwd, environment: environment, logPath: job.logPath, timeout: job.timeout,
                                    grace: job.grace, onSpawn: { child in
            do {
                try runFile.record(child, details: ["job": .string(job.name)])
            } catch {
                // Without it a crash of aios up would leave this run unstopped: say so.
                logger.error("cannot record the running job; a restart after a crash will not stop it",
                             metadata: ["job": "\(job.name)", "pid": "\(child.pid)", "error": "\(error)"])
            }
        }, onLine: onLine)
    }

    /// The run files an earlier run left, of instances and jobs.
    static func runFiles(under directory: URL) -> [RunFile] {
        let fileManager = FileManager.default
        guard let walker = fileManager.enumerator(at: directory, includingPropertiesForKeys: nil) else { return [] }
        return walker.compactMap { $0 as? URL }.filter { $0.pathExtension == "json" }.map(RunFile.init(url:))
    }
}

/// A driver cannot do what it was asked.
public struct DriverError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
