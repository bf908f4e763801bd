import AIOSMetrics
import AIOSModel
import Foundation
import Logging
#if canImport(Glibc)
import Glibc
#endif

/// Where custom policies run on this host: the interpreter that has the `aios_policy` SDK, a copy of the SDK
/// and the policies' code and virtualenvs in a directory the sandbox may read, and whether bubblewrap works.
/// Prepared once, on first use (nothing is probed when no custom policy is ever registered).
public struct PolicyHost: Sendable {
    public struct Configuration: Sendable {
        /// The platform's Python (the SDK must be importable by it): `aios up --policy-python`.
        public var python: String
        public var sandbox: PolicySandboxMode
        public var limits: PolicyLimits
        /// `<data dir>/policies`: archives and logs.
        public var directory: URL
        /// The bubblewrap program (`aios up --policy-bwrap`).
        public var bwrap: String

        public init(python: String, sandbox: PolicySandboxMode, limits: PolicyLimits = PolicyLimits(), directory: URL, bwrap: String = "bwrap") {
            self.python = python
            self.sandbox = sandbox
            self.limits = limits
            self.directory = directory
            self.bwrap = bwrap
        }
    }

    /// Why custom policies cannot run here.
    public struct Unavailable: Error, CustomStringConvertible {
        public var description: String
    }

    public let configuration: Configuration
    /// Holds the staged SDK (`sdk/aios_policy`), extracted code (`code/<digest>`) and venvs (`venvs/<digest>`).
    /// `directory/run` unless the platform runs as root and that is not reachable by the sandbox's uid (65534).
    public let runtimeDirectory: URL
    /// `(uid, gid)` the sandbox drops to: set when the platform runs as root, whose processes RLIMIT_NPROC
    /// does not bound.
    public let runAs: (uid: Int, gid: Int)?
    /// What the block events say about the containment.
    public let isolation: String
    /// The interpreter that runs inside the sandbox (and that policy virtualenvs are made from): the platform
    /// Python's real path, or, when that is private to root (a pyenv under /root), the system `python3`.
    public let sandboxPython: String

    public var sdkDirectory: URL { runtimeDirectory.appendingPathComponent("sdk") }
    public var archivesDirectory: URL { configuration.directory.appendingPathComponent("archives") }
    public var logsDirectory: URL { configuration.directory.appendingPathComponent("logs") }
    public func codeDirectory(digest: String) -> URL { runtimeDirectory.appendingPathComponent("code/\(digest)") }
    public func venvDirectory(digest: String) -> URL { runtimeDirectory.appendingPathComponent("venvs/\(digest)") }

    /// Finds the SDK, stages it, and probes the sandbox. Throws `Unavailable` naming what is missing.
    public static func prepare(_ configuration: Configuration, logger: Logger) async throws -> PolicyHost {
        let fileManager = FileManager.default
        let python = configuration.python
        let locate = try? await CommandRunner.output(
            [python, "-c", "import aios_policy, os, sys; print(os.path.dirname(os.path.abspath(aios_policy.__file__))); print(os.path.realpath(sys.executable))"],
            captureErrors: true, timeout: 30)
        let lines = locate.map { $0.standardOutput.split(whereSeparator: \.isNewline).map(String.init) } ?? []
        guard let locate, locate.status == 0, lines.count == 2 else {
            throw Unavailable(description: "the policy SDK (aios_policy) is not importable by \(python): install python/aios_policy into it, or start aios up with --policy-python naming one that has it")
        }
        let package = lines[0], realPython = lines[1]
        let asRoot = geteuid() == 0
        let runAs: (uid: Int, gid: Int)? = asRoot ? (65534, 65534) : nil
        var runtime = configuration.directory.appendingPathComponent("run")
        if asRoot && !Self.traversableByAll(configuration.directory) {
            // The sandbox's uid must reach the code; a data dir under a private parent (mktemp -d) cannot be.
            let key = configuration.directory.standardizedFileURL.path.utf8.reduce(UInt64(1469598103934665603)) { ($0 ^ UInt64($1)) &* 1099511628211 }
            runtime = URL(fileURLWithPath: "/tmp/aios-policies-\(String(key, radix: 16))")
        }
        for directory in [configuration.directory, configuration.directory.appendingPathComponent("archives"),
                          configuration.directory.appendingPathComponent("logs")] {
            try fileManager.createDirectory(at: directory, withIntermediateDirectories: true)
        }
        for directory in [runtime, runtime.appendingPathComponent("code"), runtime.appendingPathComponent("venvs")] {
            try fileManager.createDirectory(at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
            _ = chmod(directory.path, 0o755)
        }
        try Self.stage(sdkPackage: URL(fileURLWithPath: package), into: runtime.appendingPathComponent("sdk"))
        var sandboxPython = realPython
        if asRoot && !Self.readableByAll(realPython) {
            guard let system = ["/usr/bin/python3", "/usr/local/bin/python3"].first(where: { Self.readableByAll($0) }) else {
                throw Unavailable(description: "custom policies run as uid 65534, which cannot reach \(realPython) (nor /usr/bin/python3): install python3 where every user can run it")
            }
            sandboxPython = system
        }

        var isolation: String
        switch configuration.sandbox {
        case .bwrap:
            let probe = try? await CommandRunner.output([python, "-s", "-m", "aios_policy.launch", "--probe", "--bwrap", configuration.bwrap], timeout: 30)
            let answer = probe.flatMap { JSONValue.decodeJSON(Data($0.standardOutput.utf8)) }
            guard answer?["usable"]?.boolValue == true else {
                let reason = answer?["reason"]?.stringValue ?? "the probe failed to run"
                throw Unavailable(description: "custom policies are refused: bubblewrap cannot sandbox them here (\(reason)); install bubblewrap, or start aios up with --policy-sandbox rlimits-only to run them with resource limits only")
            }
            isolation = "bubblewrap sandbox (no network, read-only root, private /tmp, no data dir) with rlimits"
        case .rlimitsOnly:
            isolation = "rlimits and a clean environment only (--policy-sandbox rlimits-only): no filesystem or network isolation"
        }
        if let runAs { isolation += ", as uid \(runAs.uid)" }
        logger.notice("custom policies enabled", metadata: ["sandbox": "\(configuration.sandbox.rawValue)", "runtime": "\(runtime.path)", "isolation": "\(isolation)"])
        return PolicyHost(configuration: configuration, runtimeDirectory: runtime, runAs: runAs, isolation: isolation, sandboxPython: sandboxPython)
    }

    /// Whether the runtime directory is one of this host's own, outside the data dir (removed at shutdown:
    /// everything in it is made again from the archives).
    public var runtimeIsOutsideDataDirectory: Bool {
        !runtimeDirectory.standardizedFileURL.path.hasPrefix(configuration.directory.standardizedFileURL.path + "/")
    }

    /// Whether every directory from `/` down to `url` can be traversed by any user.
    static func traversableByAll(_ url: URL) -> Bool {
        var path = url.standardizedFileURL.path
        while !path.isEmpty && path != "/" {
            var info = stat()
            guard stat(path, &info) == 0 else { return false }
            if info.st_mode & 0o001 == 0 { return false }
            path = (path as NSString).deletingLastPathComponent
        }
        return true
    }

    /// Whether any user can run the file at `path` (every directory above it traversable, the file readable
    /// and executable by others, following symbolic links).
    static func readableByAll(_ path: String) -> Bool {
        let real = URL(fileURLWithPath: path).resolvingSymlinksInPath()
        var info = stat()
        guard stat(real.path, &info) == 0, info.st_mode & 0o005 == 0o005 else { return false }
        return traversableByAll(real.deletingLastPathComponent())
    }

    /// Copies the SDK's Python files (world-readable) so the sandbox reads a copy the sandbox uid can reach.
    static func stage(sdkPackage: URL, into sdk: URL) throws {
        let fileManager = FileManager.default
        let target = sdk.appendingPathComponent("aios_policy")
        let staging = sdk.appendingPathComponent(".aios_policy-\(getpid())")
        try? fileManager.removeItem(at: staging)
        try fileManager.createDirectory(at: staging, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        _ = chmod(sdk.path, 0o755)
        for name in try fileManager.contentsOfDirectory(atPath: sdkPackage.path) where name.hasSuffix(".py") || name == "py.typed" {
            let copy = staging.appendingPathComponent(name)
            try fileManager.copyItem(at: sdkPackage.appendingPathComponent(name), to: copy)
            _ = chmod(copy.path, 0o644)
        }
        _ = chmod(staging.path, 0o755)
        try? fileManager.removeItem(at: target)
        try fileManager.moveItem(at: staging, to: target)
    }

    /// The argv that starts a worker for the code of `digest` (through `aios_policy.launch`, which execs the sandbox).
    public func workerCommand(digest: String, hasVenv: Bool) -> (arguments: [String], environment: [String: String]) {
        var arguments = [configuration.python, "-s", "-m", "aios_policy.launch", "--code", codeDirectory(digest: digest).appendingPathComponent("code").path,
                         "--mode", configuration.sandbox.launchMode, "--sdk", sdkDirectory.path, "--python", sandboxPython, "--bwrap", configuration.bwrap]
        if hasVenv { arguments += ["--venv", venvDirectory(digest: digest).path] }
        if let runAs { arguments += ["--run-as", "\(runAs.uid):\(runAs.gid)"] }
        arguments += configuration.limits.launchArguments
        let environment = ["PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONPATH": sdkDirectory.path,
                           "PYTHONDONTWRITEBYTECODE": "1", "PYTHONNOUSERSITE": "1"]
        return (arguments, environment)
    }
}
