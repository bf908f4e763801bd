import Foundation
import Yams

/// Turns submitted bytes (JSON or YAML) into `JSONValue` documents.
///
/// JSON is read by `JSONParser`: strict, linear, nesting at most `JSONParser.documentMaxDepth`, no repeated keys.
public enum DocumentDecoder {
    /// Decodes one document. JSON is tried first; anything else is read as YAML (a superset of JSON).
    public static func decode(_ data: Data, contentType: String? = nil) throws(APIError) -> JSONValue {
        let documents = try decodeAll(data, contentType: contentType)
        guard documents.count == 1 else {
            throw APIError(.invalidDocument, "expected one document, found \(documents.count)")
        }
        return documents[0]
    }

    /// Decodes every document in a YAML stream (`---` separated) or a single JSON document.
    ///
    /// A body that is clearly JSON (it starts with `{` or `[`) and that JSON refuses for its nesting, a repeated key,
    /// an out-of-range number or its encoding gets that error: YAML would not read it better, only more slowly.
    /// Other JSON failures fall through to YAML, which accepts more (unquoted keys, trailing commas).
    public static func decodeAll(_ data: Data, contentType: String? = nil) throws(APIError) -> [JSONValue] {
        let isYAML = contentType.map { $0.lowercased().contains("yaml") } ?? false
        if !isYAML {
            do {
                return [try JSONParser(maxDepth: JSONParser.documentMaxDepth).parseReportingKind(data)]
            } catch {
                if error.kind != .syntax, looksLikeJSON(data) { throw error.apiError }
            }
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw APIError(.invalidDocument, "the body is not UTF-8 text")
        }
        if text.allSatisfy(\.isWhitespace) {
            throw APIError(.invalidDocument, "the body is empty; send a JSON or YAML document")
        }
        // Aliases expand when loaded: a few nested ones turn a small body into gigabytes ("billion laughs").
        let aliases = aliasCount(text)
        if aliases > maxAliases {
            throw APIError(.invalidDocument, "the YAML uses \(aliases) aliases; at most \(maxAliases) are accepted")
        }
        do {
            let documents = try Yams.load_all(yaml: text).map { try JSONValue(yaml: $0) }
            guard !documents.isEmpty else {
                throw APIError(.invalidDocument, "the body holds no document")
            }
            return documents
        } catch let error as APIError {
            throw error
        } catch {
            throw APIError(.invalidDocument, "the body is neither valid JSON nor valid YAML: \(yamlErrorSummary(error))")
        }
    }

    /// Whether the first byte that is not JSON whitespace opens an object or an array.
    static func looksLikeJSON(_ data: Data) -> Bool {
        var bytes = data[...]
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes = bytes.dropFirst(3) }
        let first = bytes.first { ![0x20, 0x09, 0x0A, 0x0D].contains($0) }
        return first == UInt8(ascii: "{") || first == UInt8(ascii: "[")
    }

    static let maxAliases = 64

    /// Counts YAML alias references (`*name` where a node may start).
    static func aliasCount(_ text: String) -> Int {
        var count = 0
        var previous: Character = "\n"
        var inQuotes: Character?
        for character in text {
            if let quote = inQuotes {
                if character == quote { inQuotes = nil }
            } else if character == "\"" || character == "'" {
                inQuotes = character
            } else if character == "*", previous.isWhitespace || "[{,:-".contains(previous) {
                count += 1
            }
            if character == "\n" { inQuotes = nil }
            previous = character
        }
        return count
    }

    private static func yamlErrorSummary(_ error: any Error) -> String {
        let text = String(describing: error)
        return text.split(separator: "\n").first.map(String.init) ?? text
    }
}

extension JSONValue {
    /// Converts a value produced by the YAML loader.
    init(yaml value: Any?) throws(APIError) {
        switch value {
        case nil, is NSNull:
            self = .null
        case let bool as Bool:
            self = .bool(bool)
        case let int as Int:
            self = .number(Double(int))
        case let double as Double:
            guard double.isFinite else {
                throw APIError(.invalidDocument, "YAML value \(double) is not a finite number")
            }
            self = .number(double)
        case let string as String:
            self = .string(string)
        case let date as Date:
            self = .string(ISO8601DateFormatter().string(from: date))
        case let data as Data:
            self = .string(data.base64EncodedString())
        case let array as [Any?]:
            var elements: [JSONValue] = []
            for element in array { elements.append(try JSONValue(yaml: element)) }
            self = .array(elements)
        case let mapping as [AnyHashable: Any?]:
            var object: [String: JSONValue] = [:]
            for (key, element) in mapping {
                object[String(describing: key.base)] = try JSONValue(yaml: element)
            }
            self = .object(object)
        case let array as [Any]:
            var elements: [JSONValue] = []
            for element in array { elements.append(try JSONValue(yaml: element)) }
            self = .array(elements)
        case let mapping as [AnyHashable: Any]:
            var object: [String: JSONValue] = [:]
            for (key, element) in mapping {
                object[String(describing: key.base)] = try JSONValue(yaml: element)
            }
            self = .object(object)
        case let other?:
            self = .string(String(describing: other))
        }
    }
}
