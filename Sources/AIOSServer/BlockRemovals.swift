/// Removals in flight, by block: a `removeBlock` of a block whose removal is already under way waits for that
/// removal and answers with its outcome (the same task id) instead of removing the block a second time. A
/// request that arrives after the removal finished finds no block (404). So concurrent removals of one block
/// make exactly one removal and one task.
actor BlockRemovals {
    private var inFlight: [String: Task<ControlPlane.Outcome, any Error>] = [:]

    /// Runs `removal` for `blockId` unless one is running; either way returns that removal's outcome.
    func run(_ blockId: String, _ removal: @escaping @Sendable () async throws -> ControlPlane.Outcome) async throws -> ControlPlane.Outcome {
        if let running = inFlight[blockId] {
            return try await running.value
        }
        let task = Task { try await removal() }
        inFlight[blockId] = task
        defer { inFlight[blockId] = nil }
        return try await task.value
    }
}
