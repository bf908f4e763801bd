import AIOSModel

/// Order, cycle and reachability over a vDAG's edges, with ties broken by spec order so results
/// (and error messages) are the same every time.
extension VDAGGraph {
    /// Kahn's algorithm, always taking the ready node that comes first in `labels`. Nodes on or behind a
    /// cycle never become ready and are left out, so a short result means the graph has a cycle.
    static func topologicalOrder(labels: [String], parents: [String: [String]], children: [String: [String]]) -> [String] {
        var waiting = Dictionary(uniqueKeysWithValues: labels.map { ($0, parents[$0]?.count ?? 0) })
        var done = Set<String>()
        var order: [String] = []
        while let next = labels.first(where: { !done.contains($0) && waiting[$0] == 0 }) {
            done.insert(next)
            order.append(next)
            for child in children[next] ?? [] {
                waiting[child, default: 0] -= 1
            }
        }
        return order
    }

    /// One cycle among the nodes that ``topologicalOrder(labels:parents:children:)`` left out, in edge
    /// order and starting at its node that comes first in `labels`, with that node repeated at the end
    /// (`[a, b, c, a]`); `nil` when there is none.
    static func findCycle(labels: [String], children: [String: [String]], ordered: Set<String>) -> [String]? {
        let remaining = Set(labels).subtracting(ordered)
        let rank = Dictionary(uniqueKeysWithValues: labels.enumerated().map { ($1, $0) })
        var finished = Set<String>()
        for start in labels where remaining.contains(start) && !finished.contains(start) {
            // Iterative depth-first search along edges inside `remaining`; `stack` is the current path.
            var stack: [String] = [start]
            var onStack: Set<String> = [start]
            var nextChild: [String: Int] = [:]
            while let top = stack.last {
                let kids = (children[top] ?? []).filter { remaining.contains($0) }
                let index = nextChild[top, default: 0]
                guard index < kids.count else {
                    finished.insert(top)
                    onStack.remove(top)
                    stack.removeLast()
                    continue
                }
                nextChild[top] = index + 1
                let child = kids[index]
                if onStack.contains(child), let from = stack.firstIndex(of: child) {
                    var cycle = Array(stack[from...])
                    if let first = cycle.indices.min(by: { rank[cycle[$0], default: 0] < rank[cycle[$1], default: 0] }) {
                        cycle = Array(cycle[first...] + cycle[..<first])
                    }
                    return cycle + [cycle[0]]
                }
                if !finished.contains(child) {
                    stack.append(child)
                    onStack.insert(child)
                }
            }
        }
        return nil
    }

    /// The nodes reachable from `starts` along edges (the starts included).
    static func reachable(from starts: [String], children: [String: [String]]) -> Set<String> {
        var seen = Set(starts)
        var queue = starts
        while let next = queue.popLast() {
            for child in children[next] ?? [] where seen.insert(child).inserted {
                queue.append(child)
            }
        }
        return seen
    }
}
