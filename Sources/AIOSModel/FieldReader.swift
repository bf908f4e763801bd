/// Reads typed fields out of a spec object and collects every problem with its path,
/// so one reply can name all the bad fields at once.
///
/// An explicit `null` reads as absent.
public struct FieldReader: Sendable {
    public private(set) var errors: [FieldError] = []

    public init() {}

    public var isValid: Bool { errors.isEmpty }

    public mutating func fail(_ path: FieldPath, _ message: String) {
        errors.append(FieldError(path: path, message: message))
    }

    public mutating func absorb(_ other: [FieldError]) {
        errors.append(contentsOf: other)
    }

    /// Fails every key of `object` that is not in `known`, naming the known ones.
    public mutating func rejectUnknownFields(_ object: [String: JSONValue], known: Set<String>, at path: FieldPath) {
        for key in object.keys.sorted() where !known.contains(key) {
            fail(path / key, "unknown field; expected \(known.sorted().joined(separator: ", "))")
        }
    }

    /// Throws the collected errors, if any.
    public func check() throws(APIError) {
        if !errors.isEmpty { throw APIError.validation(errors) }
    }

    private mutating func present(_ object: [String: JSONValue], _ key: String, at path: FieldPath, required: Bool) -> JSONValue? {
        switch object[key] {
        case nil, .null?:
            if required { fail(path / key, "required") }
            return nil
        case let value?:
            return value
        }
    }

    private mutating func typeMismatch(_ path: FieldPath, expected: String, got value: JSONValue) {
        fail(path, "expected \(expected), got \(value.typeName)")
    }

    public mutating func string(_ object: [String: JSONValue], _ key: String, at path: FieldPath, required: Bool = false) -> String? {
        guard let value = present(object, key, at: path, required: required) else { return nil }
        guard let string = value.stringValue else {
            typeMismatch(path / key, expected: "a string", got: value)
            return nil
        }
        if required && string.isEmpty {
            fail(path / key, "must not be empty")
            return nil
        }
        return string
    }

    public mutating func int(_ object: [String: JSONValue], _ key: String, at path: FieldPath, required: Bool = false, minimum: Int? = nil) -> Int? {
        guard let value = present(object, key, at: path, required: required) else { return nil }
        guard let int = value.intValue else {
            if case .number = value {
                fail(path / key, "expected a whole number between -2^63 and 2^63, got \(value.jsonString())")
            } else {
                typeMismatch(path / key, expected: "an integer", got: value)
            }
            return nil
        }
        if let minimum, int < minimum {
            fail(path / key, "must be at least \(minimum), got \(int)")
            return nil
        }
        return int
    }

    public mutating func number(_ object: [String: JSONValue], _ key: String, at path: FieldPath, required: Bool = false, minimum: Double? = nil) -> Double? {
        guard let value = present(object, key, at: path, required: required) else { return nil }
        guard let number = value.numberValue else {
            typeMismatch(path / key, expected: "a number", got: value)
            return nil
        }
        if let minimum, number < minimum {
            fail(path / key, "must be at least \(minimum.formatted), got \(number.formatted)")
            return nil
        }
        return number
    }

    public mutating func bool(_ object: [String: JSONValue], _ key: String, at path: FieldPath, required: Bool = false) -> Bool? {
        guard let value = present(object, key, at: path, required: required) else { return nil }
        guard let bool = value.boolValue else {
            typeMismatch(path / key, expected: "a boolean", got: value)
            return nil
        }
        return bool
    }

    public mutating func object(_ object: [String: JSONValue], _ key: String, at path: FieldPath, required: Bool = false) -> [String: JSONValue]? {
        guard let value = present(object, key, at: path, required: required) else { return nil }
        guard let result = value.objectValue else {
            typeMismatch(path / key, expected: "an object", got: value)
            return nil
        }
        return result
    }

    public mutating func array(_ object: [String: JSONValue], _ key: String, at path: FieldPath, required: Bool = false) -> [JSONValue]? {
        guard let value = present(object, key, at: path, required: required) else { return nil }
        guard let result = value.arrayValue else {
            typeMismatch(path / key, expected: "an array", got: value)
            return nil
        }
        return result
    }

    /// A process's working directory (`cwd`, default `/`): it must be absolute, since `aios apply -f` has already
    /// resolved a relative one against the spec file.
    public mutating func workingDirectory(_ object: [String: JSONValue], at path: FieldPath) -> String {
        let cwd = string(object, "cwd", at: path) ?? "/"
        if !cwd.hasPrefix("/") {
            fail(path / "cwd", "must be an absolute path (aios apply -f resolves a relative one against the spec file), got \"\(cwd)\"")
        }
        return cwd
    }

    /// A process's extra environment (`env`): strings, or numbers written as text.
    public mutating func environment(_ object: [String: JSONValue], at path: FieldPath) -> [String: String] {
        var environment: [String: String] = [:]
        guard let env = self.object(object, "env", at: path) else { return environment }
        for (key, value) in env {
            if let text = value.stringValue {
                environment[key] = text
            } else if let number = value.numberValue {
                environment[key] = number.formatted
            } else {
                fail(path / "env" / key, "expected a string, got \(value.typeName)")
            }
        }
        return environment
    }

    public mutating func stringArray(_ object: [String: JSONValue], _ key: String, at path: FieldPath, required: Bool = false) -> [String]? {
        guard let elements = array(object, key, at: path, required: required) else { return nil }
        var strings: [String] = []
        for (index, element) in elements.enumerated() {
            guard let string = element.stringValue else {
                typeMismatch(path / key / index, expected: "a string", got: element)
                continue
            }
            strings.append(string)
        }
        return strings.count == elements.count ? strings : nil
    }
}

extension Double {
    /// `3` for integral values, `0.5` otherwise: how numbers read in messages.
    public var formatted: String {
        rounded() == self && abs(self) < 1e15 ? String(Int64(self)) : String(self)
    }
}
