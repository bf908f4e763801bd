import AIOSModel

/// Which of a node's qualifying GPUs an instance gets, as `selection_mode` says: `greedy` the ones with the
/// least memory available (packing), `balanced` and `lightest-load` the least utilised, then the most memory.
enum GPUPicker {
    static func pick(_ count: Int, from qualifying: [GPUCandidate], request: ResourceRequest)
        -> (gpus: [CapacitySnapshot.GPU], remainingMemory: Double)
    {
        var eligible = qualifying.map { (gpu: $0.gpu, available: $0.available) }
        switch request.selectionMode {
        case .greedy:
            eligible.sort { $0.available != $1.available ? $0.available < $1.available : $0.gpu.id < $1.gpu.id }
        case .balanced, .lightestLoad:
            eligible.sort {
                if $0.gpu.utilization != $1.gpu.utilization { return $0.gpu.utilization < $1.gpu.utilization }
                return $0.available != $1.available ? $0.available > $1.available : $0.gpu.id < $1.gpu.id
            }
        }
        let picked = eligible.prefix(count)
        let remaining = eligible.reduce(0) { $0 + $1.available } - picked.reduce(0) { $0 + request.gpuReservation(totalMemory: $1.gpu.totalMemory) }
        return (picked.map(\.gpu).sorted { GPUOrder.precedes($0.id, $1.id) }, remaining)
    }
}

/// GPU ids in the order people read them: numerically when both are numbers ("2" before "10").
enum GPUOrder {
    static func precedes(_ a: String, _ b: String) -> Bool {
        if let x = Int(a), let y = Int(b) { return x < y }
        return a < b
    }
}
