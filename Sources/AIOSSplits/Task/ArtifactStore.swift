import AIOSModel
import Crypto
import Foundation

/// Split artifacts, content-addressed: `DIRECTORY/<sha256>`. A file enters only after its size and digest
/// were checked, by an atomic rename, so a stored artifact is always whole and always what its name says.
public struct ArtifactStore: Sendable {
    public let directory: URL

    public init(directory: URL) throws {
        self.directory = directory
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    /// The stored file for `sha256`, or `nil` when there is none (or the text is not a digest).
    public func file(sha256: String) -> URL? {
        guard PlanArtifact.isDigest(sha256) else { return nil }
        let url = directory.appendingPathComponent(sha256)
        return FileManager.default.fileExists(atPath: url.path) ? url : nil
    }

    /// Checks that `file` is a regular file (not a link, whose target could change) of `size` bytes with this
    /// SHA-256. Throws a message naming what did not match.
    public func verify(_ file: URL, sha256: String, size: Int) throws {
        let attributes: [FileAttributeKey: Any]
        do {
            attributes = try FileManager.default.attributesOfItem(atPath: file.path)
        } catch {
            throw ArtifactError("\(file.lastPathComponent) is missing from the splitter's output directory")
        }
        guard attributes[.type] as? FileAttributeType == .typeRegular,
              (attributes[.referenceCount] as? NSNumber)?.intValue ?? 1 == 1 else {
            throw ArtifactError("\(file.lastPathComponent) must be a regular file, not a link")
        }
        let actualSize = (attributes[.size] as? NSNumber)?.intValue ?? -1
        guard actualSize == size else {
            throw ArtifactError("\(file.lastPathComponent) has \(actualSize) bytes, the plan says \(size)")
        }
        let digest = try Self.sha256(of: file)
        guard digest == sha256 else {
            throw ArtifactError("\(file.lastPathComponent) has SHA-256 \(digest), the plan says \(sha256)")
        }
    }

    /// Moves a verified `file` into the store; an artifact already stored is kept and `file` removed.
    @discardableResult
    public func store(_ file: URL, sha256: String) throws -> URL {
        let target = directory.appendingPathComponent(sha256)
        if FileManager.default.fileExists(atPath: target.path) {
            try? FileManager.default.removeItem(at: file)
        } else {
            // Same file system (the output directory is under the data directory): a rename, atomic.
            try FileManager.default.moveItem(at: file, to: target)
        }
        return target
    }

    /// The lowercase hex SHA-256 of a file, read in 1 MiB chunks.
    public static func sha256(of file: URL) throws -> String {
        let handle = try FileHandle(forReadingFrom: file)
        defer { try? handle.close() }
        var hasher = SHA256()
        while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty {
            hasher.update(data: chunk)
        }
        return hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }
}

public struct ArtifactError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
