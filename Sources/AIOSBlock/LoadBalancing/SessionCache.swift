/// A bounded least-recently-used map from session id to instance id. Lookups and inserts are O(1); when
/// full, the least recently used session is forgotten.
public struct SessionCache {
    private struct Entry {
        var session: String
        var instanceId: String
        var newer: Int?
        var older: Int?
    }

    public let capacity: Int
    private var index: [String: Int] = [:]
    private var entries: [Entry] = []
    private var newest: Int?
    private var oldest: Int?
    private var free: [Int] = []

    public init(capacity: Int) {
        self.capacity = max(1, capacity)
    }

    public var count: Int { index.count }

    /// The session's instance, marking the session as most recently used.
    public mutating func instance(for session: String) -> String? {
        guard let slot = index[session] else { return nil }
        moveToFront(slot)
        return entries[slot].instanceId
    }

    public mutating func bind(_ session: String, to instanceId: String) {
        if let slot = index[session] {
            entries[slot].instanceId = instanceId
            moveToFront(slot)
            return
        }
        if index.count >= capacity, let oldest {
            remove(oldest)
        }
        let entry = Entry(session: session, instanceId: instanceId, newer: nil, older: newest)
        let slot: Int
        if let reused = free.popLast() {
            entries[reused] = entry
            slot = reused
        } else {
            entries.append(entry)
            slot = entries.count - 1
        }
        if let newest { entries[newest].newer = slot }
        newest = slot
        if oldest == nil { oldest = slot }
        index[session] = slot
    }

    /// Forgets every session bound to `instanceId`.
    public mutating func unbind(instance instanceId: String) {
        for slot in index.values where entries[slot].instanceId == instanceId {
            remove(slot)
        }
    }

    private mutating func moveToFront(_ slot: Int) {
        guard newest != slot else { return }
        unlink(slot)
        entries[slot].older = newest
        entries[slot].newer = nil
        if let newest { entries[newest].newer = slot }
        newest = slot
        if oldest == nil { oldest = slot }
    }

    private mutating func remove(_ slot: Int) {
        unlink(slot)
        index[entries[slot].session] = nil
        free.append(slot)
    }

    private mutating func unlink(_ slot: Int) {
        let entry = entries[slot]
        if let newer = entry.newer { entries[newer].older = entry.older } else { newest = entry.older }
        if let older = entry.older { entries[older].newer = entry.newer } else { oldest = entry.newer }
        entries[slot].newer = nil
        entries[slot].older = nil
    }
}
