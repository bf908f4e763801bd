/// The AIOS spec envelope: `{"header"|"head": {"templateUri": "Parser/V1", "parameters": {}}, "body": {"spec": {"values": {...}}}}`,
/// or the bare `values` object.
public struct SpecEnvelope: Sendable, Equatable {
    /// The only template this server parses itself.
    public static let parserTemplate = "Parser/V1"

    /// The spec values.
    public var values: [String: JSONValue]
    /// Where `values` sits in the submitted document, so errors name the path the user wrote.
    public var valuesPath: FieldPath
    /// `header.parameters` when an envelope was used.
    public var templateParameters: [String: JSONValue]

    public init(values: [String: JSONValue], valuesPath: FieldPath = .root, templateParameters: [String: JSONValue] = [:]) {
        self.values = values
        self.valuesPath = valuesPath
        self.templateParameters = templateParameters
    }

    /// Unwraps a submitted document.
    ///
    /// A document with a `header`, `head` or `body` key is an envelope; anything else is bare values.
    public init(document: JSONValue) throws(APIError) {
        guard let object = document.objectValue else {
            throw APIError.validation([FieldError(path: .root, message: "expected a JSON object, got \(document.typeName)")])
        }
        let headerKey = object["header"] != nil ? "header" : (object["head"] != nil ? "head" : nil)
        guard headerKey != nil || object["body"] != nil else {
            self.init(values: object)
            return
        }

        var errors: [FieldError] = []
        var parameters: [String: JSONValue] = [:]
        if let headerKey, let header = object[headerKey] {
            let headerPath = FieldPath.root / headerKey
            if let headerObject = header.objectValue {
                switch headerObject["templateUri"] {
                case nil, .null?:
                    break  // AIOS treats a missing template as the internal parser.
                case .string(let uri) where uri == Self.parserTemplate:
                    break
                case .string(let uri):
                    errors.append(FieldError(
                        path: headerPath / "templateUri",
                        message: "unknown template \"\(uri)\"; this server parses \"\(Self.parserTemplate)\" only"))
                case let other?:
                    errors.append(FieldError(path: headerPath / "templateUri", message: "expected a string, got \(other.typeName)"))
                }
                switch headerObject["parameters"] {
                case nil, .null?: break
                case .object(let object)?: parameters = object
                case let other?:
                    errors.append(FieldError(path: headerPath / "parameters", message: "expected an object, got \(other.typeName)"))
                }
            } else {
                errors.append(FieldError(path: headerPath, message: "expected an object, got \(header.typeName)"))
            }
        }

        let valuesPath = FieldPath.root / "body" / "spec" / "values"
        var values: [String: JSONValue] = [:]
        switch object["body"]?["spec"]?["values"] {
        case .object(let object)?:
            values = object
        case nil:
            errors.append(FieldError(path: valuesPath, message: "required: the envelope must carry the spec in body.spec.values"))
        case let other?:
            errors.append(FieldError(path: valuesPath, message: "expected an object, got \(other.typeName)"))
        }
        if !errors.isEmpty { throw APIError.validation(errors) }
        self.init(values: values, valuesPath: valuesPath, templateParameters: parameters)
    }
}
