/// What a spec document describes, told from its fields, so `aios apply -f` can send it to the right action.
public enum SpecKind: String, Sendable, CaseIterable {
    case component, cluster, node, block, vdag, policy

    /// The parser action that accepts this kind.
    public var action: String {
        switch self {
        case .component: "addComponent"
        case .cluster: "createCluster"
        case .node: "addNode"
        case .block: "createBlock"
        case .vdag: "createvDAG"
        case .policy: "policies"
        }
    }

    public static func detect(_ values: [String: JSONValue]) -> SpecKind? {
        if values["blockComponentURI"] != nil { return .block }
        if values["vdagName"] != nil { return .vdag }
        if values["policy_settings"] != nil || values["policy_parameters"] != nil
            || (values["name"] != nil && values["version"] != nil && values["code"] != nil) {
            return .policy
        }
        if values["componentId"] != nil || values["componentType"] != nil { return .component }
        if values["clusterId"] != nil { return .node }
        if values["id"] != nil && (values["regionId"] != nil || values["nodes"] != nil || values["clusterMetadata"] != nil) {
            return .cluster
        }
        return nil
    }
}
