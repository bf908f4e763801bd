import AIOSModel

/// A dotted variable (`nodes.gpus.freeMem`) and how it reaches values: objects by key, and through arrays
/// to every element, so a path names all the values it reaches (MongoDB's implicit array traversal).
public struct DocumentPath: Sendable, Hashable, CustomStringConvertible {
    public let keys: [String]

    public init(_ dotted: String) {
        keys = dotted.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
    }

    public var description: String { keys.joined(separator: ".") }

    /// Every leaf value the path reaches. Arrays met on the way (and at the end) are flattened.
    public func values(in document: JSONValue) -> [JSONValue] {
        var results: [JSONValue] = []
        collect(document, from: 0, into: &results)
        return results
    }

    private func collect(_ value: JSONValue, from index: Int, into results: inout [JSONValue]) {
        if case .array(let elements) = value {
            for element in elements { collect(element, from: index, into: &results) }
            return
        }
        guard index < keys.count else {
            results.append(value)
            return
        }
        if case .object(let object) = value, let next = object[keys[index]] ?? object[Self.alias(keys[index])] {
            collect(next, from: index + 1, into: &results)
        }
    }

    /// Metric names are accepted with and without the underscore: `load15m` and `load_15m`.
    static func alias(_ key: String) -> String {
        switch key {
        case "load_1m": "load1m"
        case "load_5m": "load5m"
        case "load_15m": "load15m"
        case "load1m": "load_1m"
        case "load5m": "load_5m"
        case "load15m": "load_15m"
        default: key
        }
    }

    /// Whether the path goes through a list (or ends at one) in `document`: `true` when it reaches a value
    /// by way of a list, `false` when it reaches values but never through a list, `nil` when it reaches nothing.
    public func passesThroughList(in document: JSONValue) -> Bool? {
        passesThroughList(document, from: 0, sawList: false)
    }

    private func passesThroughList(_ value: JSONValue, from index: Int, sawList: Bool) -> Bool? {
        if case .array(let elements) = value {
            return elements.isEmpty ? true : elements.lazy.compactMap { self.passesThroughList($0, from: index, sawList: true) }.first ?? true
        }
        guard index < keys.count else { return sawList }
        guard case .object(let object) = value, let next = object[keys[index]] ?? object[Self.alias(keys[index])] else { return nil }
        return passesThroughList(next, from: index + 1, sawList: sawList)
    }

    /// Whether the path reaches anything in `document` (a key that exists, even with an empty array).
    public func exists(in document: JSONValue) -> Bool {
        exists(document, from: 0)
    }

    private func exists(_ value: JSONValue, from index: Int) -> Bool {
        guard index < keys.count else { return true }
        switch value {
        case .array(let elements): return elements.contains { exists($0, from: index) }
        case .object(let object):
            guard let next = object[keys[index]] ?? object[Self.alias(keys[index])] else { return false }
            return exists(next, from: index + 1)
        default: return false
        }
    }
}
