import AIOSModel

/// A list of input or output names, as IOMap entries and graph edges write them: each name a non-empty
/// string or an object `{"name": "..."}` (both spellings appear in AIOS's examples).
enum VDAGNameList {
    /// Reads the list at `path`; `nil` when absent or bad (reported to `reader`). Repeats are kept once.
    static func read(_ value: JSONValue?, at path: FieldPath, reader: inout FieldReader) -> [String]? {
        guard let value, !value.isNull else { return nil }
        guard let elements = value.arrayValue else {
            reader.fail(path, "expected an array of names, got \(value.typeName)")
            return nil
        }
        var names: [String] = []
        var valid = true
        for (index, element) in elements.enumerated() {
            let name = element.stringValue ?? element["name"]?.stringValue
            guard let name, !name.isEmpty else {
                reader.fail(path / index, "expected a non-empty name (a string or {\"name\": \"...\"}), got \(describe(element))")
                valid = false
                continue
            }
            if !names.contains(name) { names.append(name) }
        }
        return valid ? names : nil
    }

    /// Names joined for a message; `(none)` for an empty list.
    static func text(_ names: [String]) -> String {
        names.isEmpty ? "(none)" : names.joined(separator: ", ")
    }

    private static func describe(_ value: JSONValue) -> String {
        if value.stringValue != nil { return "an empty string" }
        if value.objectValue != nil { return "an object without a non-empty string \"name\"" }
        return value.typeName
    }
}
