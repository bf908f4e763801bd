/// What an API action did: its task's id and its result. Its reply is AIOS's `{"success", "task_id", "result"}`.
public struct ActionOutcome: Sendable {
    public var taskId: String
    public var result: JSONValue

    public init(taskId: String, result: JSONValue) {
        self.taskId = taskId
        self.result = result
    }

    public var reply: JSONValue {
        ["success": true, "task_id": .string(taskId), "result": result]
    }
}
