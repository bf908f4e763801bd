import Foundation
import Yams

extension JSONValue {
    /// The value as YAML, keys sorted.
    public func yamlString() -> String {
        (try? Yams.dump(object: yamlObject, sortKeys: true)) ?? jsonString(pretty: true)
    }

    private var yamlObject: Any {
        switch self {
        case .null: return NSNull()
        case .bool(let bool): return bool
        case .number(let number): return number.rounded() == number && abs(number) < 9e15 ? Int(number) as Any : number
        case .string(let string): return string
        case .array(let array): return array.map(\.yamlObject)
        case .object(let object): return object.mapValues(\.yamlObject)
        }
    }
}
