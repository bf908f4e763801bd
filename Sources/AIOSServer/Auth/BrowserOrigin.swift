import Foundation
import Hummingbird
import HTTPTypes

/// Refuses mutations that a browser page of another origin makes (cross-site request forgery): browsers say where
/// a request comes from in `Sec-Fetch-Site` and `Origin`; command-line clients and SDKs send neither. The API
/// answers no CORS preflight, so such a page cannot read any answer either.
enum BrowserOrigin {
    static let secFetchSite = HTTPField.Name("Sec-Fetch-Site")!
    static let host = HTTPField.Name("Host")!

    /// Why the request is refused, or `nil` when it may go on.
    static func refusal(_ request: Request) -> String? {
        if let site = request.headers[secFetchSite]?.lowercased(), site != "same-origin", site != "none" {
            return "requests from a browser page of another site are refused (Sec-Fetch-Site: \(site))"
        }
        if let origin = request.headers[.origin] {
            let host = request.head.authority ?? request.headers[host] ?? ""
            guard origin != "null", let url = URL(string: origin), let originHost = url.host else {
                return "requests from a browser page of another origin are refused (Origin: \(origin))"
            }
            let originAuthority = url.port.map { "\(originHost):\($0)" } ?? originHost
            if originAuthority.lowercased() != host.lowercased() {
                return "requests from a browser page of another origin are refused (Origin: \(origin), Host: \(host))"
            }
        }
        return nil
    }
}
