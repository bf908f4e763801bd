import Foundation

/// A JSON document: what specs, cluster documents and API replies are made of.
///
/// Numbers are kept as `Double`; integral values encode without a fraction so `3` round-trips as `3`.
public enum JSONValue: Sendable, Equatable, Hashable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])
}

extension JSONValue {
    public var objectValue: [String: JSONValue]? {
        if case .object(let object) = self { return object }
        return nil
    }

    public var arrayValue: [JSONValue]? {
        if case .array(let array) = self { return array }
        return nil
    }

    public var stringValue: String? {
        if case .string(let string) = self { return string }
        return nil
    }

    public var numberValue: Double? {
        if case .number(let number) = self { return number }
        return nil
    }

    /// The value as an integer, when it is a number with no fractional part that an `Int` holds
    /// (-2^63 up to, but not including, 2^63); `nil` otherwise, so no submitted number can trap a conversion.
    public var intValue: Int? {
        guard case .number(let number) = self else { return nil }
        // `Double(Int.max)` rounds up to 2^63, which an `Int` cannot hold: `Int(exactly:)` checks the range exactly.
        return Int(exactly: number)
    }

    public var boolValue: Bool? {
        if case .bool(let bool) = self { return bool }
        return nil
    }

    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    /// The JSON type name, as used in error messages.
    public var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "boolean"
        case .number: "number"
        case .string: "string"
        case .array: "array"
        case .object: "object"
        }
    }

    public subscript(key: String) -> JSONValue? {
        objectValue?[key]
    }

    /// Follows a dotted path through objects (`"gpus.count"`); `nil` when any step is missing.
    public func value(atDottedPath path: String) -> JSONValue? {
        var current: JSONValue? = self
        for key in path.split(separator: ".", omittingEmptySubsequences: false) {
            current = current?[String(key)]
        }
        return current
    }
}

extension JSONValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral,
    ExpressibleByBooleanLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral, ExpressibleByNilLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int) { self = .number(Double(value)) }
    public init(floatLiteral value: Double) { self = .number(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self = .object(Dictionary(elements, uniquingKeysWith: { _, last in last }))
    }
    public init(nilLiteral: ()) { self = .null }
}

extension JSONValue: Codable {
    /// Decodes any JSON value. A `Decoder` cannot say which kind of value it holds, so each kind is tried in turn,
    /// and a failed try costs more the deeper it is (`JSONDecoder`'s error carries the coding path). Objects are
    /// tried first, then arrays: nested objects fail no try on their way down, nested arrays one per level
    /// (`JSONDecoder`, depth 500: 17 ms for objects, 1 s for arrays, against 4.1 s and 2.8 s with containers last).
    /// Scalars keep the order bool, number, string, which lenient decoders rely on.
    /// Only the platform's own data comes through here: submitted bytes are read by `JSONParser`.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let object = try? container.decode([String: JSONValue].self) {
            self = .object(object)
        } else if let array = try? container.decode([JSONValue].self) {
            self = .array(array)
        } else if let bool = try? container.decode(Bool.self) {
            self = .bool(bool)
        } else if let number = try? container.decode(Double.self) {
            self = .number(number)
        } else {
            self = .string(try container.decode(String.self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let bool): try container.encode(bool)
        case .number(let number):
            if number.rounded() == number, abs(number) < 9.0e15 {
                try container.encode(Int64(number))
            } else {
                try container.encode(number)
            }
        case .string(let string): try container.encode(string)
        case .array(let array): try container.encode(array)
        case .object(let object): try container.encode(object)
        }
    }
}

extension JSONValue {
    /// Compact JSON with sorted keys, so stored and served documents are stable.
    public func jsonData(pretty: Bool = false) -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = pretty ? [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
        // Encoding a JSONValue cannot fail: every case maps to a JSON value and numbers are finite
        // (non-finite numbers cannot be produced by the JSON or YAML decoders; `JSONValue(any:)` maps them to null).
        return (try? encoder.encode(self)) ?? Data("null".utf8)
    }

    public func jsonString(pretty: Bool = false) -> String {
        String(decoding: jsonData(pretty: pretty), as: UTF8.self)
    }

    /// Decodes JSON text; `nil` when it is not JSON (strict RFC 8259, see `JSONParser`; nesting up to
    /// `JSONParser.trustedMaxDepth`). Use `parseJSON(_:maxDepth:)` to learn what is wrong.
    public static func decodeJSON(_ data: Data) -> JSONValue? {
        try? JSONParser(maxDepth: JSONParser.trustedMaxDepth).parse(data)
    }

    /// Decodes JSON text, or throws an `invalidDocument` error naming the path of the problem (nesting deeper than
    /// `maxDepth`, a repeated key, a number beyond a `Double`, bad UTF-8, broken syntax).
    public static func parseJSON(_ data: Data, maxDepth: Int = JSONParser.documentMaxDepth) throws(APIError) -> JSONValue {
        try JSONParser(maxDepth: maxDepth).parse(data)
    }

    /// Converts an `Encodable` value into a `JSONValue` through its JSON form.
    public init(encoding value: some Encodable) throws {
        let data = try JSONEncoder().encode(value)
        self = try JSONParser(maxDepth: JSONParser.trustedMaxDepth).parse(data)
    }

    /// Decodes a `Decodable` value from this JSON value.
    public func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try JSONDecoder().decode(type, from: jsonData())
    }
}
