import AIOSModel
import AIOSSplits
import Foundation

/// Where a split task may read a model: files under the directories `aios up --model-dir` names, or artifacts
/// of the platform's store (`/api/artifacts/<sha256>`). Nothing else on the host is opened, and a refusal says
/// the same whether or not the file exists, without naming host paths.
public struct ModelDirectories: Sendable {
    /// The configured directories as given (`..` removed), and with symbolic links resolved.
    public let directories: [String]
    public let resolvedDirectories: [String]

    public init(_ directories: [String]) {
        self.directories = directories.map { URL(fileURLWithPath: $0).standardizedFileURL.path }
        self.resolvedDirectories = self.directories.map { Self.resolved($0) ?? $0 }
    }

    /// The file to split for `model` (an absolute path, or `/api/artifacts/<sha256>`).
    public func file(for model: String, artifacts: ArtifactStore) throws(APIError) -> String {
        let artifactPrefix = "/api/artifacts/"
        if model.hasPrefix(artifactPrefix) {
            guard let file = artifacts.file(sha256: String(model.dropFirst(artifactPrefix.count))) else {
                throw APIError.validation([FieldError(path: "model", message: "no such artifact (artifacts are named by their SHA-256, 64 lowercase hex digits)")])
            }
            return file.path
        }
        let outside = APIError.validation([FieldError(path: "model", message: directories.isEmpty
            ? "this platform reads models only from its model directories, and it has none: start aios up with --model-dir DIR (repeatable), or give an artifact as /api/artifacts/SHA256"
            : "not a file under one of the platform's model directories (aios up --model-dir); give a path under one of them, or an artifact as /api/artifacts/SHA256")])
        // Lexically first (`..` removed), so nothing outside the directories is even looked at.
        let lexical = URL(fileURLWithPath: model).standardizedFileURL.path
        guard (directories + resolvedDirectories).contains(where: { Self.contains($0, lexical) }) else { throw outside }
        guard let real = Self.resolved(lexical) else {
            throw APIError.validation([FieldError(path: "model", message: "no such file in the platform's model directories")])
        }
        // A symbolic link inside a directory must not lead out of them.
        guard resolvedDirectories.contains(where: { Self.contains($0, real) }) else { throw outside }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: real, isDirectory: &isDirectory), !isDirectory.boolValue else {
            throw APIError.validation([FieldError(path: "model", message: "is a directory, not a model file")])
        }
        return real
    }

    private static func contains(_ directory: String, _ path: String) -> Bool {
        path.hasPrefix(directory.hasSuffix("/") ? directory : directory + "/")
    }

    /// `path` with every symbolic link resolved; nil when it does not exist.
    private static func resolved(_ path: String) -> String? {
        guard let real = realpath(path, nil) else { return nil }
        defer { free(real) }
        return String(cString: real)
    }
}
