import Foundation

/// One split task (`POST /api/splits`): a splitter program run over a model file, ending in a model plan.
/// Statuses follow the AIOS split SDK: `pending → running → complete | failed`.
public struct SplitTaskRecord: Sendable, Equatable {
    public enum Status: String, Sendable, Codable, CaseIterable {
        case pending, running, complete, failed

        public var isFinished: Bool { self == .complete || self == .failed }
    }

    public var id: String
    public var status: Status
    /// 0…1, as the splitter reported it.
    public var progress: Double
    /// The splitter's last progress message, or how the task ended.
    public var message: String
    /// The request with its defaults filled in (the splitter's `TASK_DATA`).
    public var request: [String: JSONValue]
    /// The validated model plan, once `complete`.
    public var plan: JSONValue
    /// Why the task failed.
    public var error: String?
    /// What `deploy` created (or, while `deploying`, is creating); `nil` until deployed.
    public var deployment: SplitDeployment?
    public var createdAt: Date
    public var updatedAt: Date

    public init(id: String = RandomID.make(prefix: "split-", length: 12), status: Status = .pending, progress: Double = 0,
                message: String = "", request: [String: JSONValue], plan: JSONValue = .null, error: String? = nil,
                deployment: SplitDeployment? = nil, createdAt: Date = Date(), updatedAt: Date? = nil) {
        self.id = id
        self.status = status
        self.progress = progress
        self.message = message
        self.request = request
        self.plan = plan
        self.error = error
        self.deployment = deployment
        self.createdAt = createdAt
        self.updatedAt = updatedAt ?? createdAt
    }
}
