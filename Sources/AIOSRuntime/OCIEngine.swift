#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// A container engine the platform runs OCI images with: podman (daemonless, preferred) or docker (when its
/// daemon answers). Instances run as `ENGINE run` in the foreground, so the supervisor sees the container's
/// output and exit like a process's; host networking makes the instance's listen address the gateway's.
public struct OCIEngine: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable {
        case podman, docker
    }

    public var kind: Kind
    public var executable: String
    /// Flags every `run` and `build` needs on this host (e.g. `--runtime /usr/sbin/runc`, `--ulimit ...`).
    public var hostFlags: [String]
    /// Why each host flag was chosen, for the log.
    public var notes: [String]

    public init(kind: Kind, executable: String, hostFlags: [String], notes: [String] = []) {
        self.kind = kind
        self.executable = executable
        self.hostFlags = hostFlags
        self.notes = notes
    }

    /// The engine to use: `preference` (`auto`: podman if it answers, else docker if its daemon answers), with
    /// the host flags detected, unless `flags` are given. `nil` with the reason when none answers.
    public static func detect(preference: String, flags: [String]?) async -> Result<OCIEngine, OCIEngineError> {
        let kinds: [Kind]
        switch preference {
        case "auto": kinds = [.podman, .docker]
        case "none": return .failure(OCIEngineError("OCI images are disabled (aios up --oci-engine none)"))
        default:
            guard let kind = Kind(rawValue: preference) else { return .failure(OCIEngineError("unknown OCI engine \"\(preference)\"; expected auto, podman, docker or none")) }
            kinds = [kind]
        }
        var reasons: [String] = []
        for kind in kinds {
            guard let executable = which(kind.rawValue) else {
                reasons.append("\(kind.rawValue): not installed")
                continue
            }
            let info = await CommandOutput.run([executable, "info", "--format", kind == .podman ? "{{.Host.OCIRuntime.Name}} {{.Host.CgroupsVersion}}" : "{{.ServerVersion}}"], timeout: 20)
            guard info.status == 0 else {
                reasons.append("\(kind.rawValue): `\(kind.rawValue) info` failed: \(info.output.suffix(300))")
                continue
            }
            if let flags { return .success(OCIEngine(kind: kind, executable: executable, hostFlags: flags, notes: ["host flags as given: \(flags.joined(separator: " "))"])) }
            var hostFlags: [String] = [], notes: [String] = []
            let fields = info.output.split(separator: " ").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
            if kind == .podman, fields.first == "crun", fields.count > 1, fields[1] == "v1", FileManager.default.isExecutableFile(atPath: "/usr/sbin/runc") {
                // crun refuses hybrid (v1) cgroup hierarchies: runc runs there.
                hostFlags += ["--runtime", "/usr/sbin/runc"]
                notes.append("podman's runtime is crun on cgroups v1, which crun cannot use: --runtime /usr/sbin/runc")
            }
            // Containers inherit limits the runtime may not raise here: ask for this process's own, at most
            // 65536 files and 32768 processes (a rootful podman's conmon refuses more on hosts like this one).
            let files = min(limit(7), 65536), processes = min(limit(6), 32768)  // RLIMIT_NOFILE, RLIMIT_NPROC (Linux)
            hostFlags += ["--ulimit", "nofile=\(files):\(files)", "--ulimit", "nproc=\(processes):\(processes)"]
            notes.append("explicit ulimits nofile=\(files), nproc=\(processes) (this process's limits, capped)")
            return .success(OCIEngine(kind: kind, executable: executable, hostFlags: hostFlags, notes: notes))
        }
        return .failure(OCIEngineError("no OCI engine can run containers here (\(reasons.joined(separator: "; ")))"))
    }

    private static func limit(_ resource: Int32) -> UInt64 {
        var value = rlimit()
        #if canImport(Glibc)
        guard getrlimit(__rlimit_resource_t(UInt32(resource)), &value) == 0 else { return 1024 }
        #else
        guard getrlimit(resource, &value) == 0 else { return 1024 }
        #endif
        let soft = UInt64(value.rlim_cur)
        return soft == UInt64.max ? 65536 : min(soft, 1 << 20)  // RLIM_INFINITY is all ones
    }

    static func which(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        let directories: [String] = path.split(separator: ":").map(String.init) + ["/usr/sbin", "/usr/local/sbin"]
        for directory in directories {
            let candidate = "\(directory)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// What one container instance needs.
    public struct Container: Sendable {
        public var name: String
        public var image: String
        /// Variables passed by name: their values come from the engine client's environment, so none shows
        /// on a command line.
        public var environmentNames: [String]
        /// Host paths mounted read-only at the same path.
        public var readOnlyMounts: [String]
        /// Host paths mounted read-write at the same path (a job's state directory).
        public var readWriteMounts: [String] = []
        public var cpus: Double?
        public var memoryMB: Double?
        public var gpus: [String]
        public var labels: [String: String]
        public var command: [String]

        public init(name: String, image: String, environmentNames: [String], readOnlyMounts: [String] = [], cpus: Double? = nil,
                    memoryMB: Double? = nil, gpus: [String] = [], labels: [String: String] = [:], command: [String] = []) {
            self.name = name
            self.image = image
            self.environmentNames = environmentNames
            self.readOnlyMounts = readOnlyMounts
            self.cpus = cpus
            self.memoryMB = memoryMB
            self.gpus = gpus
            self.labels = labels
            self.command = command
        }
    }

    /// `ENGINE run` in the foreground, removed when it exits, on the host's network.
    public func runCommand(_ container: Container) -> [String] {
        var command = [executable, "run", "--rm", "--name", container.name, "--network", "host", "--init"]
        if kind == .podman { command += ["--replace", "--pull", "never"] }
        command += hostFlags
        for (key, value) in container.labels.sorted(by: { $0.key < $1.key }) { command += ["--label", "\(key)=\(value)"] }
        for name in container.environmentNames.sorted() { command += ["--env", name] }
        for path in container.readOnlyMounts { command += ["--volume", "\(path):\(path):ro"] }
        for path in container.readWriteMounts { command += ["--volume", "\(path):\(path)"] }
        if let cpus = container.cpus, cpus > 0 { command += ["--cpus", cpus.formattedFlag] }
        if let memory = container.memoryMB, memory > 0, let megabytes = Int(exactly: memory.rounded(.up)) { command += ["--memory", "\(megabytes)m"] }
        if !container.gpus.isEmpty {
            switch kind {
            case .podman: for gpu in container.gpus { command += ["--device", "nvidia.com/gpu=\(gpu)"] }
            case .docker: command += ["--gpus", "\"device=\(container.gpus.joined(separator: ","))\""]
            }
        }
        command.append(container.image)
        command += container.command
        return command
    }

    /// Removes a container whatever its state, at once (its client was stopped already); nothing when it does
    /// not exist.
    public func removeCommand(name: String) -> [String] {
        kind == .podman ? [executable, "rm", "--force", "--time", "0", "--ignore", name] : [executable, "rm", "--force", name]
    }

    /// Whether the engine's store holds `reference`.
    public func hasImage(_ reference: String) async -> Bool {
        let command = kind == .podman ? [executable, "image", "exists", reference] : [executable, "image", "inspect", reference]
        return await CommandOutput.run(command, timeout: 30).status == 0
    }

    /// The names of the containers that carry `label` (`key=value`), running or not.
    public func containers(label: String) async -> [String] {
        let listed = await CommandOutput.run([executable, "ps", "--all", "--filter", "label=\(label)", "--format", "{{.Names}}"], timeout: 30)
        guard listed.status == 0 else { return [] }
        return listed.output.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    /// `ENGINE pull` with the registry's credentials (an auth file) and TLS choice; each output line is handed
    /// to `onLine` as it comes.
    public func pull(image: String, authFile: String?, tlsVerify: Bool?, logPath: String, timeout: Double,
                     onLine: @escaping @Sendable (Substring) async -> Void) async -> ProgramEnding {
        var command = [executable, "pull"]
        if kind == .podman {
            if let authFile { command += ["--authfile", authFile] }
            if let tlsVerify { command.append("--tls-verify=\(tlsVerify)") }
        }
        command.append(image)
        var environment = ProcessInfo.processInfo.environment.filter { ["PATH", "HOME", "TMPDIR", "XDG_RUNTIME_DIR"].contains($0.key) }
        if kind == .docker, let authFile { environment["DOCKER_CONFIG"] = URL(fileURLWithPath: authFile).deletingLastPathComponent().path }
        return await ProgramRun.run(command: command, cwd: "/", environment: environment, logPath: logPath, timeout: timeout, grace: 5, onLine: onLine)
    }
}

public struct OCIEngineError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

extension Double {
    /// `2` or `0.5`: how a number reads as a command-line flag.
    var formattedFlag: String {
        self == rounded() ? String(Int(self)) : String(self)
    }
}

/// Runs a short command and collects its output (stdout and stderr together), with a deadline.
public enum CommandOutput {
    public static func run(_ command: [String], timeout: Double) async -> (status: Int32, output: String) {
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("aios-cmd-\(UUID().uuidString.prefix(8)).log")
        FileManager.default.createFile(atPath: log.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: log) }
        let environment = ProcessInfo.processInfo.environment.filter { ["PATH", "HOME", "TMPDIR", "XDG_RUNTIME_DIR", "LANG"].contains($0.key) }
        let ending = await ProgramRun.run(command: command, cwd: "/", environment: environment, logPath: log.path, timeout: timeout, grace: 2) { _ in }
        let output = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        switch ending {
        case .exited(let status): return (status, output)
        case .timedOut(let seconds): return (-1, output + "\n(timed out after \(seconds) s)")
        case .cancelled: return (-1, output + "\n(cancelled)")
        case .notStarted(let reason): return (-1, reason)
        }
    }
}
