import Foundation

/// A strict JSON reader (RFC 8259): UTF-8 bytes in, `JSONValue` out, in one pass over the input.
///
/// Unlike `JSONDecoder` into `JSONValue`'s `Codable` form (which tries each type at each level, so deep input costs
/// far more than its size), this reads each byte once and keeps its own stack, so neither time nor the thread's stack
/// grows with nesting. It refuses, naming the path of the offending value:
/// - nesting deeper than `maxDepth` arrays and objects,
/// - an object that repeats a key,
/// - a number too large for a `Double` (`1e400`),
/// - bytes that are not UTF-8, control characters inside strings, unpaired UTF-16 surrogates in `\u` escapes,
/// - anything else RFC 8259 does not allow (comments, trailing commas, single quotes, leading zeros, `NaN`).
///
/// A UTF-8 byte order mark at the start is skipped, as RFC 8259 allows.
public struct JSONParser {
    /// How deep a submitted document may nest (arrays and objects, the outermost counting as 1).
    public static let documentMaxDepth = 64
    /// The nesting bound for `JSONValue.decodeJSON`, which also reads data the platform wrote itself (records that
    /// wrap a submitted document): the same bound `JSONDecoder` has, so everything it read still reads.
    public static let trustedMaxDepth = 512

    /// Why a parse failed; `DocumentDecoder` reports some of these kinds rather than trying YAML.
    public enum FailureKind: Sendable, Equatable {
        /// Not JSON at all, or broken JSON (a YAML reader may still make sense of it).
        case syntax
        /// Valid JSON that nests deeper than allowed.
        case depth
        /// An object repeats a key.
        case duplicateKey
        /// A number outside what a `Double` holds.
        case number
        /// Bytes that are not UTF-8, or a string that cannot be text (an unpaired surrogate escape).
        case encoding
    }

    /// A parse failure: its kind, where it is, and the API error that reports it.
    public struct Failure: Error, Sendable {
        public var kind: FailureKind
        public var path: FieldPath
        /// What is wrong, without the path.
        public var reason: String

        public var apiError: APIError {
            let message = kind == .syntax || kind == .encoding
                ? "the body is not valid JSON: \(reason) at \(path)"
                : "\(reason) at \(path)"
            return APIError(.invalidDocument, message, fields: [FieldError(path: path, message: reason)])
        }
    }

    public let maxDepth: Int

    public init(maxDepth: Int = JSONParser.documentMaxDepth) {
        self.maxDepth = maxDepth
    }

    /// Parses one JSON text.
    public func parse(_ data: Data) throws(APIError) -> JSONValue {
        do {
            return try parseReportingKind(data)
        } catch {
            throw error.apiError
        }
    }

    /// Parses one JSON text; the failure says what kind of problem it found.
    public func parseReportingKind(_ data: Data) throws(Failure) -> JSONValue {
        let result: Result<JSONValue, Failure> = data.withUnsafeBytes { raw in
            var reader = Reader(bytes: raw.bindMemory(to: UInt8.self), maxDepth: maxDepth)
            do throws(Failure) {
                return .success(try reader.document())
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }
}

extension JSONParser {
    private struct Reader {
        let bytes: UnsafeBufferPointer<UInt8>
        let maxDepth: Int
        var index = 0
        /// Where the value being read sits; one component per open container.
        var path: [FieldPath.Component] = []
        /// Open containers, innermost last: `true` for an object.
        var isObject: [Bool] = []
        var arrays: [[JSONValue]] = []
        var objects: [[String: JSONValue]] = []

        init(bytes: UnsafeBufferPointer<UInt8>, maxDepth: Int) {
            self.bytes = bytes
            self.maxDepth = maxDepth
        }

        mutating func document() throws(Failure) -> JSONValue {
            if bytes.count >= 3, bytes[0] == 0xEF, bytes[1] == 0xBB, bytes[2] == 0xBF { index = 3 }
            let value = try value()
            skipWhitespace()
            if index < bytes.count {
                throw syntax("unexpected \(describe(index)) after the end of the document")
            }
            return value
        }

        /// Reads one value, containers included, without recursion.
        private mutating func value() throws(Failure) -> JSONValue {
            while true {
                skipWhitespace()
                guard index < bytes.count else {
                    throw syntax(isObject.isEmpty && index == 0 ? "the text is empty" : "unexpected end of the text, expected a value")
                }
                var value: JSONValue
                switch bytes[index] {
                case UInt8(ascii: "{"):
                    try open()
                    skipWhitespace()
                    if peek == UInt8(ascii: "}") {
                        index += 1
                        isObject.removeLast()
                        value = .object([:])
                    } else {
                        isObject[isObject.count - 1] = true
                        objects.append([:])
                        let key = try memberKey(in: [:])
                        path.append(.key(key))
                        continue
                    }
                case UInt8(ascii: "["):
                    try open()
                    skipWhitespace()
                    if peek == UInt8(ascii: "]") {
                        index += 1
                        isObject.removeLast()
                        value = .array([])
                    } else {
                        arrays.append([])
                        path.append(.index(0))
                        continue
                    }
                case UInt8(ascii: "\""):
                    value = .string(try string())
                case UInt8(ascii: "t"):
                    try literal("true")
                    value = .bool(true)
                case UInt8(ascii: "f"):
                    try literal("false")
                    value = .bool(false)
                case UInt8(ascii: "n"):
                    try literal("null")
                    value = .null
                case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                    value = .number(try number())
                default:
                    throw syntax("unexpected \(describe(index)), expected a value")
                }
                // Hand the value to its container; close every container that ends here.
                while true {
                    guard let objectLevel = isObject.last else { return value }
                    skipWhitespace()
                    if objectLevel {
                        guard case .key(let key) = path[path.count - 1] else { preconditionFailure("object path ends in a key") }
                        objects[objects.count - 1][key] = value
                        if peek == UInt8(ascii: ",") {
                            index += 1
                            let next = try memberKey(in: objects[objects.count - 1])
                            path[path.count - 1] = .key(next)
                            break
                        }
                        guard peek == UInt8(ascii: "}") else {
                            throw syntax(index < bytes.count ? "unexpected \(describe(index)), expected ',' or '}'" : "unexpected end of the text, expected ',' or '}'")
                        }
                        index += 1
                        value = .object(objects.removeLast())
                    } else {
                        arrays[arrays.count - 1].append(value)
                        if peek == UInt8(ascii: ",") {
                            index += 1
                            path[path.count - 1] = .index(arrays[arrays.count - 1].count)
                            break
                        }
                        guard peek == UInt8(ascii: "]") else {
                            throw syntax(index < bytes.count ? "unexpected \(describe(index)), expected ',' or ']'" : "unexpected end of the text, expected ',' or ']'")
                        }
                        index += 1
                        value = .array(arrays.removeLast())
                    }
                    isObject.removeLast()
                    path.removeLast()
                }
            }
        }

        /// Enters an array or object (its opening byte is at `index`).
        private mutating func open() throws(Failure) {
            guard isObject.count < maxDepth else {
                throw Failure(kind: .depth, path: FieldPath(path), reason: "nested deeper than \(maxDepth) levels")
            }
            index += 1
            isObject.append(false)
        }

        /// Reads `"key":` inside an object, refusing a key the object already has.
        private mutating func memberKey(in members: [String: JSONValue]) throws(Failure) -> String {
            skipWhitespace()
            guard peek == UInt8(ascii: "\"") else {
                throw syntax(index < bytes.count ? "unexpected \(describe(index)), expected a string key" : "unexpected end of the text, expected a string key")
            }
            let key = try string()
            if members[key] != nil {
                throw Failure(kind: .duplicateKey, path: FieldPath(path.dropLast() + [.key(key)]), reason: "duplicate key \(quoted(key))")
            }
            skipWhitespace()
            guard peek == UInt8(ascii: ":") else {
                throw syntax(index < bytes.count ? "unexpected \(describe(index)), expected ':' after the key \(quoted(key))" : "unexpected end of the text, expected ':'")
            }
            index += 1
            return key
        }

        private var peek: UInt8? {
            index < bytes.count ? bytes[index] : nil
        }

        private mutating func skipWhitespace() {
            while index < bytes.count {
                switch bytes[index] {
                case 0x20, 0x09, 0x0A, 0x0D: index += 1
                default: return
                }
            }
        }

        private mutating func literal(_ word: StaticString) throws(Failure) {
            let length = word.utf8CodeUnitCount
            let expected = UnsafeBufferPointer(start: word.utf8Start, count: length)
            guard bytes.count - index >= length, bytes[index..<index + length].elementsEqual(expected) else {
                throw syntax("unexpected \(describe(index)), expected a value")
            }
            index += length
        }

        // MARK: Strings

        /// Reads a string; `index` is at its opening quote.
        private mutating func string() throws(Failure) -> String {
            let start = index + 1
            var end = start
            // Fast path: no escapes.
            while end < bytes.count {
                let byte = bytes[end]
                if byte == UInt8(ascii: "\"") {
                    index = end + 1
                    return try text(UnsafeBufferPointer(rebasing: bytes[start..<end]), at: start)
                }
                if byte == UInt8(ascii: "\\") || byte < 0x20 { break }
                end += 1
            }
            var buffer: [UInt8] = []
            buffer.reserveCapacity(end - start + 16)
            buffer.append(contentsOf: bytes[start..<end])
            index = end
            while true {
                guard index < bytes.count else {
                    throw syntax("unterminated string", at: start - 1)
                }
                let byte = bytes[index]
                switch byte {
                case UInt8(ascii: "\""):
                    index += 1
                    return try buffer.withUnsafeBufferPointer { pointer throws(Failure) in try text(pointer, at: start) }
                case UInt8(ascii: "\\"):
                    try escape(into: &buffer)
                case ..<0x20:
                    throw syntax("control character U+\(hex(UInt32(byte), width: 4)) inside a string (escape it)")
                default:
                    buffer.append(byte)
                    index += 1
                }
            }
        }

        /// Validates a string's bytes as UTF-8.
        private func text(_ utf8: UnsafeBufferPointer<UInt8>, at offset: Int) throws(Failure) -> String {
            // ASCII (the common case) is valid as it is.
            if utf8.allSatisfy({ $0 < 0x80 }) { return String(decoding: utf8, as: UTF8.self) }
            guard let string = String(validating: utf8, as: UTF8.self) else {
                throw Failure(kind: .encoding, path: FieldPath(path), reason: "a string is not valid UTF-8 (\(lineAndColumn(offset)))")
            }
            return string
        }

        /// Decodes one escape (`index` at its backslash) into UTF-8.
        private mutating func escape(into buffer: inout [UInt8]) throws(Failure) {
            let escapeStart = index
            guard index + 1 < bytes.count else { throw syntax("unterminated string") }
            let kind = bytes[index + 1]
            index += 2
            switch kind {
            case UInt8(ascii: "\""): buffer.append(UInt8(ascii: "\""))
            case UInt8(ascii: "\\"): buffer.append(UInt8(ascii: "\\"))
            case UInt8(ascii: "/"): buffer.append(UInt8(ascii: "/"))
            case UInt8(ascii: "b"): buffer.append(0x08)
            case UInt8(ascii: "f"): buffer.append(0x0C)
            case UInt8(ascii: "n"): buffer.append(0x0A)
            case UInt8(ascii: "r"): buffer.append(0x0D)
            case UInt8(ascii: "t"): buffer.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try hexQuad(escapeStart)
                if (0xD800...0xDBFF).contains(scalar) {
                    guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u") else {
                        throw Failure(kind: .encoding, path: FieldPath(path),
                                      reason: "\\u\(hex(scalar, width: 4)) is a high surrogate without the low surrogate that must follow it (\(lineAndColumn(escapeStart)))")
                    }
                    let lowStart = index
                    index += 2
                    let low = try hexQuad(lowStart)
                    guard (0xDC00...0xDFFF).contains(low) else {
                        throw Failure(kind: .encoding, path: FieldPath(path),
                                      reason: "\\u\(hex(scalar, width: 4)) is a high surrogate followed by \\u\(hex(low, width: 4)), not a low surrogate (\(lineAndColumn(escapeStart)))")
                    }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if (0xDC00...0xDFFF).contains(scalar) {
                    throw Failure(kind: .encoding, path: FieldPath(path),
                                  reason: "\\u\(hex(scalar, width: 4)) is a low surrogate without a high surrogate before it (\(lineAndColumn(escapeStart)))")
                }
                guard let unicode = Unicode.Scalar(scalar) else { preconditionFailure("surrogates are handled above") }
                buffer.append(contentsOf: UTF8.encode(unicode)!)
            default:
                throw syntax("invalid escape \\\(printable(kind)) in a string", at: escapeStart)
            }
        }

        /// Reads the four hex digits of a `\u` escape (`index` just after the `u`).
        private mutating func hexQuad(_ escapeStart: Int) throws(Failure) -> UInt32 {
            guard index + 4 <= bytes.count else { throw syntax("\\u must be followed by four hex digits", at: escapeStart) }
            var value: UInt32 = 0
            for _ in 0..<4 {
                let byte = bytes[index]
                let digit: UInt8
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
                case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
                case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
                default: throw syntax("\\u must be followed by four hex digits", at: escapeStart)
                }
                value = value << 4 | UInt32(digit)
                index += 1
            }
            return value
        }

        // MARK: Numbers

        /// Reads a number: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
        private mutating func number() throws(Failure) -> Double {
            let start = index
            var negative = false
            if bytes[index] == UInt8(ascii: "-") {
                negative = true
                index += 1
            }
            let integerStart = index
            guard let first = peek, isDigit(first) else {
                throw syntax("a number needs digits after its sign", at: start)
            }
            index += 1
            if first != UInt8(ascii: "0") {
                while let byte = peek, isDigit(byte) { index += 1 }
            } else if let byte = peek, isDigit(byte) {
                throw syntax("a number must not have leading zeros", at: start)
            }
            let integerDigits = index - integerStart
            var integral = true
            if peek == UInt8(ascii: ".") {
                integral = false
                index += 1
                guard let byte = peek, isDigit(byte) else { throw syntax("a number needs digits after its decimal point", at: start) }
                while let byte = peek, isDigit(byte) { index += 1 }
            }
            if peek == UInt8(ascii: "e") || peek == UInt8(ascii: "E") {
                integral = false
                index += 1
                if peek == UInt8(ascii: "+") || peek == UInt8(ascii: "-") { index += 1 }
                guard let byte = peek, isDigit(byte) else { throw syntax("a number needs digits in its exponent", at: start) }
                while let byte = peek, isDigit(byte) { index += 1 }
            }
            // Up to 15 digits are exact in a Double: no need for the general conversion.
            if integral && integerDigits <= 15 {
                var magnitude: Int64 = 0
                for position in integerStart..<index { magnitude = magnitude * 10 + Int64(bytes[position] - UInt8(ascii: "0")) }
                return negative ? -Double(magnitude) : Double(magnitude)
            }
            let literal = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
            guard let number = Double(literal), number.isFinite else {
                let shown = literal.count > 40 ? String(literal.prefix(37)) + "..." : literal
                throw Failure(kind: .number, path: FieldPath(path), reason: "the number \(shown) is out of range (beyond ±1.8e308)")
            }
            return number
        }

        private func isDigit(_ byte: UInt8) -> Bool {
            byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
        }

        // MARK: Errors

        private func syntax(_ what: String, at offset: Int? = nil) -> Failure {
            Failure(kind: .syntax, path: FieldPath(path), reason: "\(what) (\(lineAndColumn(offset ?? index)))")
        }

        /// `line 3, column 7`, counting columns in characters (a multi-byte character is one column).
        private func lineAndColumn(_ offset: Int) -> String {
            var line = 1, column = 1
            for position in 0..<min(offset, bytes.count) {
                let byte = bytes[position]
                if byte == 0x0A {
                    line += 1
                    column = 1
                } else if byte & 0xC0 != 0x80 {
                    column += 1
                }
            }
            return "line \(line), column \(column)"
        }

        private func describe(_ offset: Int) -> String {
            guard offset < bytes.count else { return "end of the text" }
            return printable(bytes[offset])
        }

        private func printable(_ byte: UInt8) -> String {
            if byte >= 0x20 && byte < 0x7F { return "'\(Character(Unicode.Scalar(byte)))'" }
            return "byte 0x\(hex(UInt32(byte), width: 2))"
        }

        private func quoted(_ key: String) -> String {
            let shown = key.count > 60 ? String(key.prefix(57)) + "..." : key
            return JSONValue.string(shown).jsonString()
        }

        private func hex(_ value: UInt32, width: Int) -> String {
            let digits = String(value, radix: 16, uppercase: true)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
    }
}
