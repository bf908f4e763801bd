/// How a component runs as a plain process (no image): `"runtime": {"type": "process", "command": [...],
/// "cwd": "/abs/dir", "env": {...}}`. `aios apply -f` turns a relative `cwd` into an absolute one against the
/// spec file's directory; the server needs it absolute.
public struct ProcessRuntimeSpec: Sendable, Equatable {
    public var command: [String]
    public var cwd: String
    public var environment: [String: String]

    public init(command: [String], cwd: String, environment: [String: String]) {
        self.command = command
        self.cwd = cwd
        self.environment = environment
    }

    /// Reads `runtime` from a component's values; `nil` when absent.
    public static func read(_ values: [String: JSONValue], at path: FieldPath, reader: inout FieldReader) -> ProcessRuntimeSpec? {
        guard let runtime = reader.object(values, "runtime", at: path) else { return nil }
        let runtimePath = path / "runtime"
        let type = reader.string(runtime, "type", at: runtimePath) ?? "process"
        guard type == "process" else {
            reader.fail(runtimePath / "type", "unknown runtime \"\(type)\"; expected process (images run from containerRegistryInfo.containerImage)")
            return nil
        }
        let command = reader.stringArray(runtime, "command", at: runtimePath, required: true)
        if let command, command.isEmpty || command[0].isEmpty {
            reader.fail(runtimePath / "command", "must name a program, e.g. [\"python3\", \"block.py\"]")
        }
        let cwd = reader.workingDirectory(runtime, at: runtimePath)
        let environment = reader.environment(runtime, at: runtimePath)
        guard let command, !command.isEmpty else { return nil }
        return ProcessRuntimeSpec(command: command, cwd: cwd, environment: environment)
    }

    /// The runtime of a stored component, which was checked when it was added.
    public init?(component: ComponentSpec) {
        var reader = FieldReader()
        guard let spec = Self.read(component.document, at: .root, reader: &reader), reader.isValid else { return nil }
        self = spec
    }
}
