import AIOSModel
import Foundation
import Synchronization

/// `DATA_DIR/audit.log`: one JSON line per mutation (and per refused request), with the token id, the route and
/// the outcome. Appends only; the file is 0600.
public final class AuditLog: Sendable {
    private let handle: Mutex<FileHandle?>
    public let path: String

    public init(path: String) {
        self.path = path
        let manager = FileManager.default
        if !manager.fileExists(atPath: path) {
            manager.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o600])
        }
        let handle = FileHandle(forWritingAtPath: path)
        _ = try? handle?.seekToEnd()
        self.handle = Mutex(handle)
    }

    public struct Entry {
        public var tokenId: String?
        public var method: String
        public var path: String
        public var status: Int
        public var outcome: String
        public var remote: String?

        public init(tokenId: String?, method: String, path: String, status: Int, outcome: String, remote: String? = nil) {
            self.tokenId = tokenId
            self.method = method
            self.path = path
            self.status = status
            self.outcome = outcome
            self.remote = remote
        }
    }

    public func record(_ entry: Entry) {
        var object: [String: JSONValue] = [
            "time": .string(ISO8601DateFormatter().string(from: Date())),
            "token": entry.tokenId.map(JSONValue.string) ?? .null,
            "method": .string(entry.method), "path": .string(entry.path),
            "status": .number(Double(entry.status)), "outcome": .string(entry.outcome),
        ]
        if let remote = entry.remote { object["remote"] = .string(remote) }
        let line = JSONValue.object(object).jsonData() + Data("\n".utf8)
        handle.withLock { handle in
            try? handle?.write(contentsOf: line)
        }
    }
}
