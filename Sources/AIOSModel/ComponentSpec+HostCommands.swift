extension ComponentSpec {
    /// The fields of this component that run a command on the platform's host (a process runtime, an init program
    /// that is a command): only an admin may add such a component, since the command runs as `aios up`'s user.
    public var hostCommandFields: [String] {
        var fields: [String] = []
        if document["runtime"]?.objectValue != nil { fields.append("runtime") }
        if let initContainer = document["containerRegistryInfo"]?["initContainer"]?.objectValue, initContainer["command"] != nil {
            fields.append("containerRegistryInfo.initContainer.command")
        }
        return fields
    }
}
