import Foundation

/// A component's protocol template (`componentInitParametersProtocol`, `componentInitSettingsProtocol`):
/// a map of field name to descriptor `{type, description, required, pattern, length, max_length, min, max,
/// choices, properties, items}` with `type` one of string, number, boolean, array, object, any.
///
/// A block's `parameters` and `initSettings` are checked against the component's templates. An empty
/// template accepts anything; a non-empty one also rejects fields it does not describe (a misspelt
/// parameter is an error, not a silent default).
public struct ProtocolTemplate: Sendable {
    public static let knownTypes: Set<String> = ["string", "number", "integer", "boolean", "array", "object", "any"]

    public var fields: [String: JSONValue]

    public init(fields: [String: JSONValue]) {
        // Accept the JSON-Schema-like spelling `{type: object, properties: {...}}` too.
        if fields["type"]?.stringValue == "object", let properties = fields["properties"]?.objectValue {
            self.fields = properties
        } else {
            self.fields = fields
        }
    }

    public var isEmpty: Bool { fields.isEmpty }

    /// Problems in the template itself.
    public static func check(_ template: [String: JSONValue], at path: FieldPath) -> [FieldError] {
        var errors: [FieldError] = []
        for (name, descriptor) in ProtocolTemplate(fields: template).fields.sorted(by: { $0.key < $1.key }) {
            checkDescriptor(descriptor, at: path / name, into: &errors)
        }
        return errors
    }

    private static func checkDescriptor(_ descriptor: JSONValue, at path: FieldPath, into errors: inout [FieldError]) {
        guard let object = descriptor.objectValue else {
            errors.append(FieldError(path: path, message: "expected a field descriptor object like {\"type\": \"number\"}, got \(descriptor.typeName)"))
            return
        }
        var reader = FieldReader()
        if let type = reader.string(object, "type", at: path), !knownTypes.contains(type) {
            reader.fail(path / "type", "unknown type \"\(type)\"; expected one of \(knownTypes.sorted().joined(separator: ", "))")
        }
        _ = reader.number(object, "min", at: path)
        _ = reader.number(object, "max", at: path)
        _ = reader.int(object, "length", at: path, minimum: 0)
        _ = reader.int(object, "max_length", at: path, minimum: 0)
        _ = reader.bool(object, "required", at: path)
        _ = reader.array(object, "choices", at: path)
        if let pattern = reader.string(object, "pattern", at: path), (try? NSRegularExpression(pattern: pattern)) == nil {
            reader.fail(path / "pattern", "not a valid regular expression")
        }
        if let properties = reader.object(object, "properties", at: path) {
            for (name, nested) in properties.sorted(by: { $0.key < $1.key }) {
                checkDescriptor(nested, at: path / "properties" / name, into: &errors)
            }
        }
        if let items = object["items"], !items.isNull {
            checkDescriptor(items, at: path / "items", into: &errors)
        }
        errors.append(contentsOf: reader.errors)
    }

    /// Problems in `values` against this template.
    public func validate(_ values: [String: JSONValue], at path: FieldPath) -> [FieldError] {
        guard !isEmpty else { return [] }
        var errors: [FieldError] = []
        for (name, value) in values.sorted(by: { $0.key < $1.key }) {
            guard let descriptor = fields[name]?.objectValue else {
                errors.append(FieldError(path: path / name, message: "not declared by the component's protocol; declared: \(fields.keys.sorted().joined(separator: ", "))"))
                continue
            }
            Self.validate(value, descriptor: descriptor, at: path / name, into: &errors)
        }
        for (name, descriptor) in fields.sorted(by: { $0.key < $1.key })
        where descriptor["required"]?.boolValue == true && (values[name] == nil || values[name] == .null) {
            errors.append(FieldError(path: path / name, message: "required by the component's protocol"))
        }
        return errors
    }

    private static func validate(_ value: JSONValue, descriptor: [String: JSONValue], at path: FieldPath, into errors: inout [FieldError]) {
        if value.isNull { return }
        let type = descriptor["type"]?.stringValue ?? "any"
        switch (type, value) {
        case ("any", _), ("string", .string), ("number", .number), ("boolean", .bool), ("array", .array), ("object", .object):
            break
        case ("integer", .number(let number)) where number.rounded() == number:
            break
        default:
            errors.append(FieldError(path: path, message: "expected \(type), got \(value.typeName)"))
            return
        }
        if let choices = descriptor["choices"]?.arrayValue, !choices.isEmpty, !choices.contains(value) {
            errors.append(FieldError(path: path, message: "must be one of \(JSONValue.array(choices).jsonString())"))
        }
        if let number = value.numberValue {
            if let min = descriptor["min"]?.numberValue, number < min {
                errors.append(FieldError(path: path, message: "must be at least \(min.formatted), got \(number.formatted)"))
            }
            if let max = descriptor["max"]?.numberValue, number > max {
                errors.append(FieldError(path: path, message: "must be at most \(max.formatted), got \(number.formatted)"))
            }
        }
        let count: Int? = value.stringValue.map(\.count) ?? value.arrayValue.map(\.count)
        if let count {
            if let length = descriptor["length"]?.intValue, count != length {
                errors.append(FieldError(path: path, message: "must have length \(length), got \(count)"))
            }
            if let maxLength = descriptor["max_length"]?.intValue, count > maxLength {
                errors.append(FieldError(path: path, message: "must have length at most \(maxLength), got \(count)"))
            }
        }
        if let string = value.stringValue, let pattern = descriptor["pattern"]?.stringValue,
           let regex = try? NSRegularExpression(pattern: "^(?:\(pattern))$") {
            let range = NSRange(string.startIndex..., in: string)
            if regex.firstMatch(in: string, range: range) == nil {
                errors.append(FieldError(path: path, message: "must match the pattern \(pattern)"))
            }
        }
        if let items = descriptor["items"]?.objectValue, let elements = value.arrayValue {
            for (index, element) in elements.enumerated() {
                validate(element, descriptor: items, at: path / index, into: &errors)
            }
        }
        if let properties = descriptor["properties"]?.objectValue, let object = value.objectValue {
            errors.append(contentsOf: ProtocolTemplate(fields: properties).validate(object, at: path))
        }
    }
}
