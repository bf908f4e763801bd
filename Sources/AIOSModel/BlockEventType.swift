/// What a block event reports. The raw values are the event `type` strings of the API, the store and the CLI.
public enum BlockEventType: String, Sendable, Codable, CaseIterable {
    // The block's life, from the control plane
    case created = "Created"
    case placing = "Placing"
    case placed = "Placed"
    case placementFailed = "PlacementFailed"
    case policyResolved = "PolicyResolved"
    case parametersUpdated = "ParametersUpdated"
    case recovering = "Recovering"
    case removalBlocked = "RemovalBlocked"
    case routing = "Routing"

    // Phase changes: the event's type is the phase the block entered
    case pending = "Pending"
    case initializing = "Initializing"
    case starting = "Starting"
    case ready = "Ready"
    case degraded = "Degraded"
    case failed = "Failed"
    case deleting = "Deleting"

    // Images
    case imagePull = "ImagePull"
    case imagePullProgress = "ImagePullProgress"
    case imagePulled = "ImagePulled"
    case imagePullFailed = "ImagePullFailed"
    case runtimeMissing = "RuntimeMissing"

    // Init programs of third-party components
    case initStarted = "InitStarted"
    case initStage = "InitStage"
    case initCompleted = "InitCompleted"
    case initFailed = "InitFailed"
    case initRemoved = "InitRemoved"

    // Instances
    case instanceStarted = "InstanceStarted"
    case instanceStartFailed = "InstanceStartFailed"
    case instanceReady = "InstanceReady"
    case instanceExited = "InstanceExited"
    case crashLoop = "CrashLoop"
    case instanceLost = "InstanceLost"
    case instanceReplaced = "InstanceReplaced"
    /// Not running yet, and why (a pod's image cannot be pulled): from the driver.
    case instanceWaiting = "InstanceWaiting"
    /// The node its instances ran on left the cluster or cannot be placed on: they are placed elsewhere.
    case nodeLost = "NodeLost"
    case instanceUnhealthy = "InstanceUnhealthy"
    case instanceHealthy = "InstanceHealthy"
    case healthCheckFailed = "HealthCheckFailed"

    // Scaling
    case scaledUp = "ScaledUp"
    case scaledDown = "ScaledDown"
    case scaleUpBlocked = "ScaleUpBlocked"
    case scaleUpFailed = "ScaleUpFailed"
    case autoscalerPolicy = "AutoscalerPolicy"
    case autoscalerFallback = "AutoscalerFallback"

    // Custom policies
    case policyDecided = "PolicyDecided"
    case policyFallback = "PolicyFallback"

    /// A type this version does not know (an event stored by a newer one).
    case other = "Other"

    /// The event that says a block entered `phase`.
    public init(entering phase: BlockPhase) {
        self = Self(rawValue: phase.rawValue) ?? .other
    }

    /// The type stored as `raw`; `.other` when this version does not know it.
    public init(stored raw: String) {
        self = Self(rawValue: raw) ?? .other
    }

    /// Events of an image pull (`aios apply` follows them).
    public var isImagePull: Bool {
        [.imagePull, .imagePullProgress, .imagePulled, .imagePullFailed].contains(self)
    }
}
