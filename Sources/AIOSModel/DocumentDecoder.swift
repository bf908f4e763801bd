import Foundation

/// Turns submitted bytes (JSON or YAML) into `JSONValue` documents.
///
/// Both readers bound their work by the input: JSON is read by `JSONParser` (strict, linear, nesting at most
/// `JSONParser.documentMaxDepth`, no repeated keys), YAML by `YAMLReader` (aliases may expand to at most
/// `YAMLReader.maxAliasExpansion` values, the same nesting bound).
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
                if looksLikeJSON(data), error.kind != .syntax || data.count > maxYAMLBytes { throw error.apiError }
            }
        }
        // The YAML reader costs seconds per megabyte: specs are small, larger documents come as JSON.
        if data.count > maxYAMLBytes {
            throw APIError(.payloadTooLarge, "a YAML body may be at most \(maxYAMLBytes / 1024) KiB (this one is \(data.count / 1024) KiB); send larger documents as JSON")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw APIError(.invalidDocument, "the body is not UTF-8 text")
        }
        if text.allSatisfy(\.isWhitespace) {
            throw APIError(.invalidDocument, "the body is empty; send a JSON or YAML document")
        }
        return try YAMLReader.documents(text)
    }

    /// The largest body read as YAML.
    public static let maxYAMLBytes = 1024 * 1024

    /// Whether the first byte that is not JSON whitespace opens an object or an array.
    static func looksLikeJSON(_ data: Data) -> Bool {
        var bytes = data[...]
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes = bytes.dropFirst(3) }
        let first = bytes.first { ![0x20, 0x09, 0x0A, 0x0D].contains($0) }
        return first == UInt8(ascii: "{") || first == UInt8(ascii: "[")
    }
}
