import AIOSModel
import Crypto
import Foundation

/// Signs artifact URLs (`/api/artifacts/{sha256}?sig=…`) so the split blocks the platform deploys can download
/// their artifact without holding a platform token: the signature is an HMAC of the digest under a key derived
/// from the data directory's secret key, and opens that one artifact only.
public struct ArtifactURLSigner: Sendable {
    private let key: SymmetricKey

    public init(key: SymmetricKey) {
        self.key = key
    }

    public func signature(sha256: String) -> String {
        HMAC<SHA256>.authenticationCode(for: Data("artifact:\(sha256)".utf8), using: key).map { String(format: "%02x", $0) }.joined()
    }

    /// The artifact's path with its signature, relative to the API's URL.
    public func signedPath(sha256: String) -> String {
        "/api/artifacts/\(sha256)?sig=\(signature(sha256: sha256))"
    }

    public func isValid(sha256: String, signature given: String) -> Bool {
        ConstantTime.equal(signature(sha256: sha256), given)
    }
}
