import Crypto
import Foundation

/// Names and labels of the objects the platform creates: DNS-safe, at most 63 characters (a long name keeps
/// a prefix and a hash of the whole), and labels that find them again after a restart.
public enum KubernetesNames {
    public static let managedBy = "app.kubernetes.io/managed-by"
    public static let platformLabel = "aios.platform"
    public static let blockLabel = "aios.block-id"
    public static let instanceLabel = "aios.instance-id"
    public static let jobLabel = "aios.job"
    /// Where the block file is mounted in an instance's container.
    public static let blockFileDirectory = "/etc/aios"
    public static let blockFileName = "block.json"

    /// A DNS label: lowercase letters, digits and `-`, at most 63 characters.
    public static func label(_ text: String) -> String {
        var name = String(text.lowercased().map { ($0.isASCII && ($0.isLetter || $0.isNumber)) ? $0 : "-" })
        while name.hasPrefix("-") { name.removeFirst() }
        while name.hasSuffix("-") { name.removeLast() }
        if name.isEmpty { name = "x" }
        guard name.count > 63 else { return name }
        let digest = SHA256.hash(data: Data(text.utf8)).prefix(5).map { String(format: "%02x", $0) }.joined()
        var prefix = String(name.prefix(52))
        while prefix.hasSuffix("-") { prefix.removeLast() }
        return "\(prefix)-\(digest)"
    }

    public static func pod(blockId: String, instanceId: String) -> String { label("aios-\(blockId)-\(instanceId)") }
    public static func blockFile(blockId: String, instanceId: String) -> String { label("aios-\(blockId)-\(instanceId)-block") }
    public static func pullSecret(blockId: String, instanceId: String) -> String { label("aios-\(blockId)-\(instanceId)-pull") }
    public static func job(_ name: String) -> String { label("aios-\(name)") }

    /// `key=value,...` for a `labelSelector` query.
    public static func selector(_ labels: [String: String]) -> String {
        labels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
    }
}
