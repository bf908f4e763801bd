/// `initSettings` keys the platform itself reads, whatever the component declares: a component's
/// `componentInitSettingsProtocol` describes its own settings and cannot refuse these (nor need to list
/// them). Each is checked against the platform's own descriptor instead.
public enum PlatformInitSettings {
    /// Key → protocol descriptor (`ProtocolTemplate`'s format).
    public static let descriptors: [String: JSONValue] = [
        // The block's request deadline (the executor caps clients' deadlines by it).
        "timeout_ms": ["type": "number", "min": 1, "max": 86_400_000,
                       "description": "deadline of a request whose client sets none (or a longer one), in milliseconds"],
    ]

    /// Problems in `initSettings`: platform keys against the platform's descriptors (and the component's, if it
    /// declares them too), every other key against the component's protocol.
    public static func validate(_ initSettings: [String: JSONValue], component: ProtocolTemplate, at path: FieldPath) -> [FieldError] {
        let platformKeys = initSettings.filter { descriptors[$0.key] != nil }
        var errors = ProtocolTemplate(fields: descriptors).validate(platformKeys, at: path)
        let refused = Set(errors.map(\.path))
        // What the component declares is checked against its protocol (its own `timeout_ms` descriptor included);
        // platform keys it does not declare are not its business. One error per field.
        errors += component.validate(initSettings.filter { descriptors[$0.key] == nil || component.fields[$0.key] != nil }, at: path)
            .filter { !refused.contains($0.path) }
        return errors
    }
}
