/// Secret values in a block's `blockInitData` and `initSettings`: sealed at rest, `"***"` in every read, event and
/// log, opened only when handed to the block's own programs.
///
/// A value is secret when its key is marked `secret: true` in one of the component's protocol templates, or when
/// the key's last word names a credential: `api_key`/`apiKey`, `token`, `password`/`passwd`, `secret`
/// (`hf_token`, `db_password` and `client_secret` are secret; `max_tokens` and `token_limit` are not). Nested
/// objects are searched too. A sealed value is stored as `{"$sealed": "<base64 AES-GCM of its JSON>"}`.
public enum SecretValues {
    public static let marker = "$sealed"
    public static let redaction: JSONValue = "***"

    /// Whether the key's name says it holds a credential.
    public static func isSecretName(_ key: String) -> Bool {
        let words = Self.words(key)
        guard let last = words.last else { return false }
        if ["token", "password", "passwd", "secret", "apikey"].contains(last) { return true }
        return last == "key" && words.dropLast().last == "api"
    }

    /// The field names a protocol template marks `secret: true`.
    public static func declared(in template: [String: JSONValue]) -> Set<String> {
        Set(ProtocolTemplate(fields: template).fields.compactMap { name, descriptor in
            descriptor["secret"]?.boolValue == true ? name : nil
        })
    }

    /// `object` with every secret value replaced by its sealed form (values sealed already are left as they are).
    public static func sealed(_ object: [String: JSONValue], declared: Set<String>,
                              seal: (JSONValue) throws -> String) rethrows -> [String: JSONValue] {
        var result = object
        for (key, value) in object {
            if isSealed(value) { continue }
            if declared.contains(key) || isSecretName(key) {
                result[key] = .object([marker: .string(try seal(value))])
            } else if case .object(let nested) = value {
                result[key] = .object(try sealed(nested, declared: [], seal: seal))
            }
        }
        return result
    }

    /// `value` with every sealed value opened.
    public static func opened(_ value: JSONValue, open: (String) throws -> JSONValue) rethrows -> JSONValue {
        switch value {
        case .object(let object):
            if let sealed = sealedText(value) { return try open(sealed) }
            return .object(try object.mapValues { try opened($0, open: open) })
        case .array(let items):
            return .array(try items.map { try opened($0, open: open) })
        default:
            return value
        }
    }

    /// `value` with every sealed value shown as `"***"`: what reads, events and logs show.
    public static func redacted(_ value: JSONValue) -> JSONValue {
        switch value {
        case .object(let object):
            if isSealed(value) { return redaction }
            return .object(object.mapValues(redacted))
        case .array(let items):
            return .array(items.map(redacted))
        default:
            return value
        }
    }

    /// `value` with every value whose key names a credential shown as `"***"` (nested objects and arrays searched):
    /// for text the platform did not seal, such as an init program's stage lines in its log.
    public static func redactedByName(_ value: JSONValue) -> JSONValue {
        switch value {
        case .object(let object):
            var result: [String: JSONValue] = [:]
            for (key, element) in object {
                result[key] = isSecretName(key) ? redaction : redactedByName(element)
            }
            return .object(result)
        case .array(let items):
            return .array(items.map(redactedByName))
        default:
            return value
        }
    }

    /// Whether a sealed value is anywhere in `value`.
    public static func containsSealed(_ value: JSONValue) -> Bool {
        switch value {
        case .object(let object): isSealed(value) || object.values.contains(where: containsSealed)
        case .array(let items): items.contains(where: containsSealed)
        default: false
        }
    }

    public static func isSealed(_ value: JSONValue) -> Bool {
        sealedText(value) != nil
    }

    private static func sealedText(_ value: JSONValue) -> String? {
        guard case .object(let object) = value, object.count == 1, let text = object[marker]?.stringValue else { return nil }
        return text
    }

    /// `hf_token` → [hf, token]; `apiKey` → [api, key]; `X-API-KEY` → [x, api, key].
    private static func words(_ key: String) -> [String] {
        var words: [String] = []
        var current = ""
        var previousWasLower = false
        for character in key {
            if character == "_" || character == "-" || character == "." || character == " " {
                if !current.isEmpty { words.append(current) }
                current = ""
                previousWasLower = false
                continue
            }
            if character.isUppercase, previousWasLower {
                words.append(current)
                current = ""
            }
            current.append(Character(character.lowercased()))
            previousWasLower = character.isLowercase || character.isNumber
        }
        if !current.isEmpty { words.append(current) }
        return words
    }
}
