import AIOSModel

/// What the vDAG's controller needs from `controller{inputSources, initParameters, initSettings, policies}`.
///
/// AIOS's parser forwards only those four keys and drops `controller.quotaChecker`, which its controller
/// runtime then reads; here the quota checker is honoured wherever it was written (see ``read(_:at:reader:)``).
public struct VDAGControllerSettings: Sendable, Equatable {
    /// How long a request waits for the graph's outputs when `maxOutputWaitTimeSeconds` is not given.
    public static let defaultMaxOutputWaitSeconds = 30.0
    /// The longest wait a spec may ask for.
    public static let maxOutputWaitLimit = 3600.0

    /// `controller.initSettings.maxOutputWaitTimeSeconds`: in (0, 3600], default 30.
    public var maxOutputWaitSeconds: Double
    /// The quota checker; `nil` when absent or `enabled: false`.
    public var quota: VDAGQuota?

    public init(maxOutputWaitSeconds: Double = VDAGControllerSettings.defaultMaxOutputWaitSeconds, quota: VDAGQuota? = nil) {
        self.maxOutputWaitSeconds = maxOutputWaitSeconds
        self.quota = quota
    }

    /// Reads `values.controller` (optional: an absent controller means the defaults).
    ///
    /// The quota checker may be written in one of three places: `controller.quotaChecker` (where AIOS's
    /// controller runtime reads it), `controller.initSettings.quotaChecker`, or a `controller.policies` entry
    /// named `quotaChecker` (`{"name": "quotaChecker", ...}` or `{"values": {"name": "quotaChecker", ...}}`).
    /// Writing it in more than one place is an error at the later one: silently preferring one would hide
    /// a typo. Returns `nil` when something was bad (reported to `reader`).
    static func read(_ values: [String: JSONValue], at valuesPath: FieldPath, reader: inout FieldReader) -> VDAGControllerSettings? {
        guard let controller = reader.object(values, "controller", at: valuesPath) else {
            return values["controller"]?.isNull ?? true ? VDAGControllerSettings() : nil
        }
        let path = valuesPath / "controller"
        let before = reader.errors.count
        _ = reader.array(controller, "inputSources", at: path)
        _ = reader.object(controller, "initParameters", at: path)
        let initSettings = reader.object(controller, "initSettings", at: path) ?? [:]
        let policies = reader.array(controller, "policies", at: path) ?? []

        var wait = defaultMaxOutputWaitSeconds
        if let given = reader.number(initSettings, "maxOutputWaitTimeSeconds", at: path / "initSettings") {
            if given > 0 && given <= maxOutputWaitLimit {
                wait = given
            } else {
                reader.fail(path / "initSettings" / "maxOutputWaitTimeSeconds",
                            "must be greater than 0 and at most \(maxOutputWaitLimit.formatted) seconds, got \(given.formatted)")
            }
        }

        var places: [(path: FieldPath, config: [String: JSONValue])] = []
        if let config = reader.object(controller, "quotaChecker", at: path) {
            places.append((path / "quotaChecker", config))
        }
        if let config = reader.object(initSettings, "quotaChecker", at: path / "initSettings") {
            places.append((path / "initSettings" / "quotaChecker", config))
        }
        for (index, entry) in policies.enumerated() {
            guard var entryObject = entry.objectValue else { continue }  // other policies' shapes are the controller's business
            var entryPath = path / "policies" / index
            if entryObject["name"] == nil, let nested = entryObject["values"]?.objectValue {
                entryObject = nested
                entryPath = entryPath / "values"
            }
            guard entryObject["name"]?.stringValue == "quotaChecker" else { continue }
            entryObject.removeValue(forKey: "name")
            places.append((entryPath, entryObject))
        }

        var quota: VDAGQuota?
        if let first = places.first {
            for other in places.dropFirst() {
                reader.fail(other.path, "the quota checker is already given at \(first.path); give it in one place")
            }
            quota = VDAGQuota.read(first.config, at: first.path, reader: &reader)
        }

        guard reader.errors.count == before else { return nil }
        return VDAGControllerSettings(maxOutputWaitSeconds: wait, quota: quota)
    }
}
