/// How a component runs as an OCI image: `containerRegistryInfo.containerImage` (AIOS), pulled with the
/// credentials of `containerRegistryInfo.containerRegistryId` when it names a registered registry.
public struct OCIImageSpec: Sendable, Equatable {
    public var image: String
    public var registryId: String?

    public init(image: String, registryId: String?) {
        self.image = image
        self.registryId = registryId
    }

    /// The image of a stored component, or `nil` when it names none.
    public init?(component: ComponentSpec) {
        guard let info = component.document["containerRegistryInfo"]?.objectValue,
              let image = info["containerImage"]?.stringValue, !image.isEmpty else { return nil }
        let registryId = info["containerRegistryId"]?.stringValue
        self.init(image: image, registryId: registryId?.isEmpty == true ? nil : registryId)
    }

    /// The registry host the reference names (`127.0.0.1:5000` in `127.0.0.1:5000/aios/x:1`), or `nil` when it
    /// names none (`aios/x:1`, pulled from the engine's default registries).
    public var referenceHost: String? {
        guard let slash = image.firstIndex(of: "/") else { return nil }
        let first = image[..<slash]
        return first.contains(".") || first.contains(":") || first == "localhost" ? String(first) : nil
    }

    /// The reference to pull: `image` itself when it names its registry, else prefixed with `host`.
    public func reference(registryHost host: String?) -> String {
        guard referenceHost == nil, let host else { return image }
        return "\(host)/\(image)"
    }
}
