/// A third-party component's init program (`containerRegistryInfo.initContainer`, for `componentMode`
/// `third_party`): it deploys the third-party system before the block's instances start (mode `create`) and
/// tears it down when the block is removed (mode `remove`).
///
/// ```json
/// "initContainer": {"command": ["python3", "init.py"], "cwd": "/abs/dir", "env": {"K": "V"},
///                   "timeout_s": 600, "remove_timeout_s": 120}
/// ```
/// `image` (or AIOS's `containerImage`) names an OCI image instead of a process `command`.
public struct InitContainerSpec: Sendable, Equatable {
    public static let defaultCreateTimeout: Double = 600
    public static let defaultRemoveTimeout: Double = 120
    /// One day: long enough for any deployment, short enough to fit a `Duration` with room to spare.
    static let longestTimeout: Double = 86_400

    public var command: [String]?
    public var image: String?
    public var cwd: String
    public var environment: [String: String]
    /// Seconds the `create` run may take before it is stopped and counted as failed.
    public var createTimeout: Double
    /// Seconds the `remove` run may take.
    public var removeTimeout: Double

    public init(command: [String]?, image: String? = nil, cwd: String = "/", environment: [String: String] = [:],
                createTimeout: Double = Self.defaultCreateTimeout, removeTimeout: Double = Self.defaultRemoveTimeout) {
        self.command = command
        self.image = image
        self.cwd = cwd
        self.environment = environment
        self.createTimeout = createTimeout
        self.removeTimeout = removeTimeout
    }

    /// Reads and checks `initContainer` (already known to be an object) at `path`.
    public static func read(_ section: [String: JSONValue], at path: FieldPath, reader: inout FieldReader) -> InitContainerSpec? {
        let before = reader.errors.count
        let image = reader.string(section, "image", at: path)
        let containerImage = reader.string(section, "containerImage", at: path)
        if let image, let containerImage, image != containerImage {
            reader.fail(path / "image", "differs from initContainer.containerImage; give one")
        }
        let command = reader.stringArray(section, "command", at: path)
        if let command, command.first?.isEmpty ?? true {
            reader.fail(path / "command", "must name a program, e.g. [\"python3\", \"init.py\"]")
        }
        if command == nil, image ?? containerImage == nil {
            reader.fail(path, "needs a process \"command\" (e.g. [\"python3\", \"init.py\"]) or an OCI \"image\"")
        }
        let cwd = reader.workingDirectory(section, at: path)
        let environment = reader.environment(section, at: path)
        func timeout(_ key: String, default value: Double) -> Double {
            guard let seconds = reader.number(section, key, at: path) else { return value }
            guard seconds > 0, seconds <= longestTimeout else {
                reader.fail(path / key, "must be above 0 and at most \(Int(longestTimeout)) seconds, got \(seconds.formatted)")
                return value
            }
            return seconds
        }
        let createTimeout = timeout("timeout_s", default: defaultCreateTimeout)
        let removeTimeout = timeout("remove_timeout_s", default: defaultRemoveTimeout)
        guard reader.errors.count == before else { return nil }
        return InitContainerSpec(command: command, image: image ?? containerImage, cwd: cwd, environment: environment,
                                 createTimeout: createTimeout, removeTimeout: removeTimeout)
    }

    /// The init program of a stored component, which was checked when it was added; `nil` for a component
    /// that is not third-party.
    public init?(component: ComponentSpec) {
        guard let info = component.document["containerRegistryInfo"]?.objectValue,
              info["componentMode"]?.stringValue == "third_party",
              let section = info["initContainer"]?.objectValue else { return nil }
        var reader = FieldReader()
        guard let spec = Self.read(section, at: .root, reader: &reader) else { return nil }
        self = spec
    }
}
