import Foundation

/// What an instance runs: a command on the host, or an OCI image.
public enum InstanceWorkload: Sendable, Equatable {
    case command([String], cwd: String)
    case image(String)

    public enum Kind: String, Sendable {
        case command, image
    }

    public var kind: Kind {
        switch self {
        case .command: .command
        case .image: .image
        }
    }
}

/// Everything a driver needs to start one instance: which block and instance, where it was placed and what it
/// was allocated, its variables and block file, and what it runs. The driver adds `AIOS_LISTEN`.
public struct InstanceLaunch: Sendable {
    public var blockId: String
    public var instanceId: String
    public var clusterId: String
    public var nodeId: String
    /// The GPU ids of its allocation on its node.
    public var gpus: [String]
    /// CPUs and memory from its resource allocation (limits where the driver can enforce them).
    public var cpus: Double?
    public var memoryMB: Double?
    /// The instance's variables (`AIOS_BLOCK_ID`, `AIOS_BLOCK_FILE`, ..., and the component's own).
    public var environment: [String: String]
    /// The block file (`AIOS_BLOCK_FILE`): mounted read-only where the instance does not share this file system.
    public var blockFile: String
    public var workload: InstanceWorkload
    /// The `containerRegistryId` of an image's registry, for drivers that pull elsewhere (with its credentials).
    public var imageRegistryId: String?
    /// Whether the block file holds the block's opened secrets (a driver that copies it keeps it secret).
    public var blockFileHoldsSecrets = false
    /// Where its output goes (a driver that keeps logs elsewhere still appends its own notes here).
    public var logPath: String

    public var key: InstanceKey { InstanceKey(blockId: blockId, instanceId: instanceId) }

    public init(blockId: String, instanceId: String, clusterId: String, nodeId: String, gpus: [String], cpus: Double? = nil,
                memoryMB: Double? = nil, environment: [String: String], blockFile: String, workload: InstanceWorkload, logPath: String) {
        self.blockId = blockId
        self.instanceId = instanceId
        self.clusterId = clusterId
        self.nodeId = nodeId
        self.gpus = gpus
        self.cpus = cpus
        self.memoryMB = memoryMB
        self.environment = environment
        self.blockFile = blockFile
        self.workload = workload
        self.logPath = logPath
    }
}

/// A program run to completion by a driver: an init program of a third-party component, a splitter.
public struct JobLaunch: Sendable {
    /// Unique among running jobs (`init-<block>`, `split-<task>`): names its container or pod, and its run file.
    public var name: String
    public var workload: InstanceWorkload
    /// The cluster it runs on, for drivers that run jobs there (`nil`: this machine).
    public var clusterId: String?
    public var environment: [String: String]
    public var logPath: String
    public var timeout: Double
    /// Seconds between the graceful and the forced stop.
    public var grace: Double
    /// Host paths the job reads and writes (its state directory): mounted where it runs in a container.
    public var mounts: [String]

    public init(name: String, workload: InstanceWorkload, clusterId: String? = nil, environment: [String: String], logPath: String, timeout: Double,
                grace: Double = 5, mounts: [String] = []) {
        self.name = name
        self.clusterId = clusterId
        self.workload = workload
        self.environment = environment
        self.logPath = logPath
        self.timeout = timeout
        self.grace = grace
        self.mounts = mounts
    }
}

/// Part of a log: its text and the offset to read on from.
public struct LogChunk: Sendable, Equatable {
    public var text: String
    public var nextOffset: Int

    public init(text: String, nextOffset: Int) {
        self.text = text
        self.nextOffset = nextOffset
    }
}
