import AIOSMetrics
import AIOSModel
import Crypto
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Policy archives, kept by the SHA-256 of their bytes: checked (no traversal, no links, size limits, a
/// `code/function.py` defining `AIOSv1PolicyRule`) by the SDK's `aios_policy.archive` without running any of
/// their code, extracted for the sandbox, and given a virtualenv of their own when they have requirements.
public struct PolicyArchives: Sendable {
    /// The most an archive may weigh (the SDK checks the same, and the uncompressed size).
    public static let maxBytes = 10 * 1024 * 1024
    /// Installing requirements may take this long.
    public static let installTimeout: Double = 600

    public let host: PolicyHost

    public init(host: PolicyHost) {
        self.host = host
    }

    /// Checks and stores `bytes`; `field` names the document field in errors. Nothing is kept when it fails.
    public func store(_ bytes: Data, field: FieldPath) async throws -> PolicyArchive {
        guard bytes.count <= Self.maxBytes else {
            throw APIError.validation([FieldError(path: field, message: "the archive is \(bytes.count) bytes; at most \(Self.maxBytes) are accepted")])
        }
        let digest = SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined()
        let archive = host.archivesDirectory.appendingPathComponent(digest)
        let existed = FileManager.default.fileExists(atPath: archive.path)
        if !existed {
            let partial = host.archivesDirectory.appendingPathComponent(".\(digest).\(getpid()).partial")
            try bytes.write(to: partial)
            _ = rename(partial.path, archive.path)
        }
        do {
            return try await prepare(digest: digest, field: field)
        } catch {
            // Same bytes, same verdict: an archive that was already kept belongs to a registered policy.
            if !existed { try? FileManager.default.removeItem(at: archive) }
            throw error
        }
    }

    /// Extracts the stored archive `digest` (again, after a restart or a lost runtime directory) and builds
    /// its virtualenv when it has requirements; returns its facts. Idempotent.
    @discardableResult
    public func prepare(digest: String, field: FieldPath = FieldPath(dotted: "code")) async throws -> PolicyArchive {
        let archive = host.archivesDirectory.appendingPathComponent(digest)
        let code = host.codeDirectory(digest: digest)
        let fileManager = FileManager.default
        let staging = code.deletingLastPathComponent().appendingPathComponent(".\(digest).\(UInt32.random(in: 0...UInt32.max))")
        defer { try? fileManager.removeItem(at: staging) }
        let finished = try await CommandRunner.output(
            [host.configuration.python, "-s", "-m", "aios_policy.archive", "extract", archive.path, staging.path],
            environment: ["PATH": "/usr/local/bin:/usr/bin:/bin", "PYTHONPATH": host.sdkDirectory.path, "LANG": "C.UTF-8"],
            captureErrors: true, timeout: 120)
        guard let report = JSONValue.decodeJSON(Data(finished.standardOutput.utf8)), report["ok"] != nil else {
            throw APIError(.internalError, "the archive check failed to run (status \(finished.status)): \(finished.standardError.suffix(500))")
        }
        guard report["ok"]?.boolValue == true else {
            let errors = report["errors"]?.arrayValue?.compactMap(\.stringValue) ?? []
            throw APIError.validation([FieldError(path: field, message: "the archive is refused: " + (errors.isEmpty ? "it could not be read" : errors.joined(separator: "; ")))])
        }
        let problems = Self.requirementProblems(staging)
        guard problems.isEmpty else {
            throw APIError.validation([FieldError(path: field / "requirements.txt", message: problems.joined(separator: "; "))])
        }
        Self.makeReadable(staging)
        if !fileManager.fileExists(atPath: code.path), rename(staging.path, code.path) != 0, !fileManager.fileExists(atPath: code.path) {
            throw APIError(.internalError, "cannot put the policy's code in place at \(code.path): \(String(cString: strerror(errno)))")
        }
        let facts = PolicyArchive(
            digest: digest, format: report["format"]?.stringValue ?? "", compressedBytes: report["compressedBytes"]?.intValue ?? 0,
            uncompressedBytes: report["uncompressedBytes"]?.intValue ?? 0, files: report["files"]?.intValue ?? 0,
            hasRequirements: Self.hasRequirements(code), warnings: report["warnings"]?.arrayValue?.compactMap(\.stringValue) ?? [])
        if facts.hasRequirements { try await installRequirements(digest: digest, field: field) }
        return facts
    }

    /// Removes the archive `digest`, its extracted code and its virtualenv.
    public func remove(digest: String) {
        for url in [host.archivesDirectory.appendingPathComponent(digest), host.codeDirectory(digest: digest), host.venvDirectory(digest: digest)] {
            try? FileManager.default.removeItem(at: url)
        }
    }

    /// The requirement lines of the extracted code (comments and blank lines left out).
    static func requirementLines(_ code: URL) -> [String] {
        guard let text = try? String(contentsOf: code.appendingPathComponent("code/requirements.txt"), encoding: .utf8) else { return [] }
        return text.split(whereSeparator: \.isNewline).compactMap { line in
            let trimmed = String(line.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? "").trimmingCharacters(in: .whitespaces)
            return trimmed.isEmpty ? nil : trimmed
        }
    }

    /// Whether the extracted code lists any requirement.
    static func hasRequirements(_ code: URL) -> Bool {
        !requirementLines(code).isEmpty
    }

    /// Requirements are installed on the host, outside the sandbox, so only named packages from the index are
    /// accepted (`name[extras] <specifiers> ; <marker>`), as wheels: no pip options, paths, URLs or VCS links,
    /// and nothing built from source (which would run the package's code here).
    static func requirementProblems(_ code: URL) -> [String] {
        let lines = requirementLines(code)
        var problems: [String] = []
        if lines.count > 100 { problems.append("at most 100 requirements, got \(lines.count)") }
        let name = /[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?(\[[A-Za-z0-9._, -]*\])?/
        let version = /\s*(===|==|!=|~=|<=|>=|<|>)\s*[A-Za-z0-9.*+!_-]+\s*/
        for (index, line) in lines.prefix(100).enumerated() {
            let requirement = String(line.split(separator: ";", maxSplits: 1).first ?? "").trimmingCharacters(in: .whitespaces)
            guard line.utf8.count <= 256, let match = requirement.prefixMatch(of: name) else {
                problems.append("line \(index + 1) (\(line.prefix(60))) is not a package name: options, paths and URLs are not accepted")
                continue
            }
            var rest = requirement[match.range.upperBound...]
            var first = true
            while !rest.isEmpty {
                if !first {
                    guard rest.first == "," else { break }
                    rest = rest.dropFirst()
                }
                guard let specifier = rest.prefixMatch(of: version) else { break }
                rest = rest[specifier.range.upperBound...]
                first = false
            }
            if !rest.trimmingCharacters(in: .whitespaces).isEmpty {
                problems.append("line \(index + 1) (\(line.prefix(60))): expected name[extras] and version specifiers such as ==1.2 or >=1,<2")
            }
        }
        return problems
    }

    /// A virtualenv of the policy's own (never the platform's), with `code/requirements.txt` installed by pip.
    /// It is built beside and moved in place only when complete.
    func installRequirements(digest: String, field: FieldPath) async throws {
        let venv = host.venvDirectory(digest: digest)
        let fileManager = FileManager.default
        if fileManager.fileExists(atPath: venv.appendingPathComponent(".complete").path) { return }
        try? fileManager.removeItem(at: venv)
        let environment = ["PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": host.runtimeDirectory.path, "PIP_DISABLE_PIP_VERSION_CHECK": "1"]
        // The venv is made at its final path (venvs hold absolute paths); `.complete` marks it usable.
        // From the sandbox's interpreter (the one that runs it), without pip: the platform's pip installs into it.
        let created = try await CommandRunner.output([host.sandboxPython, "-m", "venv", "--without-pip", venv.path], environment: environment, captureErrors: true, timeout: 120)
        guard created.status == 0 else {
            try? fileManager.removeItem(at: venv)
            throw APIError.validation([FieldError(path: field, message: "cannot create the policy's virtualenv: \(created.standardError.suffix(400))")])
        }
        let requirements = host.codeDirectory(digest: digest).appendingPathComponent("code/requirements.txt").path
        let installed = try await CommandRunner.output(
            [host.configuration.python, "-m", "pip", "--python", venv.appendingPathComponent("bin/python").path, "install", "--no-input", "-q", "--only-binary", ":all:", "-r", requirements],
            environment: environment, captureErrors: true, timeout: Self.installTimeout)
        guard installed.status == 0 else {
            try? fileManager.removeItem(at: venv)
            let tail = installed.standardError.split(whereSeparator: \.isNewline).suffix(4).joined(separator: " | ")
            throw APIError.validation([FieldError(path: FieldPath(dotted: "code") / "requirements.txt", message: "pip could not install the requirements: \(tail)")])
        }
        Self.makeReadable(venv)
        _ = FileManager.default.createFile(atPath: venv.appendingPathComponent(".complete").path, contents: Data())
    }

    /// Directories 0755, files 0644 (executables 0755): the sandbox's uid reads them, nobody writes them.
    static func makeReadable(_ root: URL) {
        _ = chmod(root.path, 0o755)
        guard let walker = FileManager.default.enumerator(atPath: root.path) else { return }
        for case let relative as String in walker {
            let path = root.appendingPathComponent(relative).path
            var info = stat()
            guard lstat(path, &info) == 0 else { continue }
            switch info.st_mode & S_IFMT {
            case S_IFDIR: _ = chmod(path, 0o755)
            case S_IFREG: _ = chmod(path, info.st_mode & 0o111 != 0 ? 0o755 : 0o644)
            default: break
            }
        }
    }
}
