/// A location inside a submitted document, written the way users read it: `body.spec.values.parameters.gpus[0]`.
public struct FieldPath: Sendable, Hashable, CustomStringConvertible {
    public enum Component: Sendable, Hashable {
        case key(String)
        case index(Int)
    }

    public private(set) var components: [Component]

    public init(_ components: [Component] = []) {
        self.components = components
    }

    /// A path from dotted text: `"body.spec.values"`.
    public init(dotted: String) {
        self.components = dotted.isEmpty ? [] : dotted.split(separator: ".").map { .key(String($0)) }
    }

    public static let root = FieldPath()

    public func appending(_ key: String) -> FieldPath {
        FieldPath(components + [.key(key)])
    }

    public func appending(index: Int) -> FieldPath {
        FieldPath(components + [.index(index)])
    }

    public static func / (path: FieldPath, key: String) -> FieldPath { path.appending(key) }
    public static func / (path: FieldPath, index: Int) -> FieldPath { path.appending(index: index) }

    public var description: String {
        var text = ""
        for component in components {
            switch component {
            case .key(let key):
                if !text.isEmpty { text += "." }
                text += key
            case .index(let index):
                text += "[\(index)]"
            }
        }
        return text.isEmpty ? "$" : text
    }
}
