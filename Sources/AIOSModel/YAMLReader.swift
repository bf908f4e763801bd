import Foundation
import Yams

/// Reads a YAML stream into `JSONValue` documents with bounded work, however the aliases nest.
///
/// Yams' loader builds a fresh value for every alias, so a few hundred bytes of nested aliases ("billion laughs")
/// expand into gigabytes; and its composer hashes every mapping key in full, so an alias used as a key costs
/// as much as its expansion. This reader therefore never lets Yams see an alias:
///
/// 1. Every `*` of the text is replaced by a private-use character that the text does not contain. In YAML a `*`
///    starts an alias exactly where a plain scalar could start (a plain scalar cannot begin with `*`), so after the
///    swap each alias reads as a plain scalar `<marker>name` at the same place, and every other `*` (in a quoted or
///    plain scalar, a comment, a block scalar) is an ordinary character, swapped back when the scalar is read.
/// 2. Yams composes that alias-free text into its `Node` tree, in time linear in the text.
/// 3. Walking the tree in document order resolves each alias to the node its anchor last named before it, as
///    Yams' composer does (anchors stay in the text, so the nodes keep them).
/// 4. The tree is converted to `JSONValue`, expanding aliases and merge keys (`<<`) like Yams' constructor, while
///    counting: at most `maxAliasExpansion` values and `maxAliasExpansionBytes` bytes of text (scalars and keys)
///    may come from aliases, and nothing may nest deeper than `maxDepth`. Each bound stops the conversion at once
///    with an `invalidDocument` error naming the path. (What the text holds itself is bounded by its size.)
///
/// Scalars resolve as Yams' default constructor resolves them (ints, floats, bools, null, timestamps as ISO 8601
/// text, binary as base64); mapping keys are their source text; a key that is not a scalar, two keys that read as
/// the same text, and a non-finite number are refused.
enum YAMLReader {
    /// How many values aliases (and merge keys through aliases) may produce in one stream, in total.
    static let maxAliasExpansion = 100_000
    /// How many bytes of scalar and key text aliases may produce in one stream, in total: a long string repeated by
    /// aliases costs nothing here (the copies share it) but would cost every reader of the document after.
    static let maxAliasExpansionBytes = 8 * 1024 * 1024
    /// How deep sequences and mappings may nest, the outermost counting as 1 (as for JSON).
    static let maxDepth = JSONParser.documentMaxDepth

    /// Every document of the stream, in order.
    static func documents(_ source: String) throws(APIError) -> [JSONValue] {
        var text = source
        if text.unicodeScalars.first == "\u{FEFF}" { text.unicodeScalars.removeFirst() }
        guard let marker = aliasMarker(avoiding: text) else {
            throw APIError(.invalidDocument, "the YAML uses every character from U+E000 to U+F8FF; it cannot be read safely")
        }
        let swapped = text.unicodeScalars.contains("*")
            ? String(String.UnicodeScalarView(text.unicodeScalars.lazy.map { $0 == "*" ? marker : $0 }))
            : text

        // The parser owns the anchors the nodes point to (weakly): it must live until the conversion ends.
        let parser: Parser
        var roots: [Node] = []
        do {
            parser = try Parser(yaml: swapped, resolver: .default, constructor: .default, encoding: .utf8)
            while let root = try parser.nextRoot() { roots.append(root) }
        } catch {
            throw APIError(.invalidDocument, "the body is neither valid JSON nor valid YAML: \(summary(error, marker: marker))")
        }
        guard !roots.isEmpty else {
            throw APIError(.invalidDocument, "the body holds no document")
        }
        var converter = Converter(marker: marker)
        var documents: [JSONValue] = []
        for (index, root) in roots.enumerated() {
            converter.document = roots.count > 1 ? index + 1 : nil
            try converter.resolveAliases(root, path: .root, depth: 0)
        }
        for (index, root) in roots.enumerated() {
            converter.document = roots.count > 1 ? index + 1 : nil
            documents.append(try converter.value(of: root, path: .root, depth: 0, throughAlias: false))
        }
        withExtendedLifetime(parser) {}
        return documents
    }

    /// A private-use character absent from `text`, to stand for `*`; `nil` when the text uses all 6,400 of them
    /// (no spec does, and its aliases could not be told apart).
    private static func aliasMarker(avoiding text: String) -> Unicode.Scalar? {
        var used = Set<UInt32>()
        for scalar in text.unicodeScalars where (0xE000...0xF8FF).contains(scalar.value) { used.insert(scalar.value) }
        return (UInt32(0xE000)...UInt32(0xF8FF)).first { !used.contains($0) }.flatMap(Unicode.Scalar.init)
    }

    private static func summary(_ error: any Error, marker: Unicode.Scalar) -> String {
        let text = String(describing: error).replacingOccurrences(of: String(Character(marker)), with: "*")
        return text.split(separator: "\n").first.map(String.init) ?? text
    }
}

extension YAMLReader {
    /// Where a node starts in the text: unique for each alias.
    private struct Position: Hashable {
        var line: Int
        var column: Int

        init?(_ mark: Mark?) {
            guard let mark else { return nil }
            line = mark.line
            column = mark.column
        }
    }

    private struct Converter {
        let marker: Unicode.Scalar
        /// 1-based, when the stream has several documents (for error messages).
        var document: Int?
        /// What each alias stands for, by the alias's position.
        private var targets: [Position: Node] = [:]
        /// The anchors defined so far, latest definition winning (as in Yams, they carry across documents).
        private var anchors: [String: Node] = [:]
        /// Values, and bytes of text, produced by expanding aliases so far.
        private var expanded = 0
        private var expandedBytes = 0
        /// Converted scalars and keys by position: an alias repeats the same scalars many times.
        private var scalars: [Position: JSONValue] = [:]
        private var keys: [Position: String] = [:]
        private let dates = ISO8601DateFormatter()

        init(marker: Unicode.Scalar) {
            self.marker = marker
        }

        // MARK: Aliases

        /// The alias name when `scalar` is an alias (`*name` in the text).
        private func aliasName(_ scalar: Node.Scalar) -> Substring.UnicodeScalarView? {
            guard scalar.style == .plain, scalar.string.unicodeScalars.first == marker else { return nil }
            return scalar.string.unicodeScalars.dropFirst()[...]
        }

        /// Records what every alias in `node` refers to, walking in Yams' composing order: an alias sees the anchors
        /// defined before it; a collection's anchor is defined once the collection ends.
        mutating func resolveAliases(_ node: Node, path: FieldPath, depth: Int) throws(APIError) {
            switch node {
            case .scalar(let scalar):
                if let name = aliasName(scalar) {
                    let text = String(name)
                    guard !name.isEmpty, name.allSatisfy({ Self.anchorCharacters.contains($0) }) else {
                        throw failure("invalid alias \"*\(text)\": an alias is * followed by letters, digits, - or _", at: path)
                    }
                    guard scalar.anchor == nil else {
                        throw failure("an alias (*\(text)) cannot have an anchor of its own", at: path)
                    }
                    guard let target = anchors[text], let position = Position(scalar.mark) else {
                        throw failure("the alias *\(text) names no anchor defined before it (&\(text))", at: path)
                    }
                    targets[position] = target
                } else if let anchor = scalar.anchor {
                    anchors[anchor.rawValue] = node
                }
            case .sequence(let sequence):
                guard depth < YAMLReader.maxDepth else { throw tooDeep(at: path) }
                for (index, element) in sequence.enumerated() {
                    try resolveAliases(element, path: path / index, depth: depth + 1)
                }
                if let anchor = sequence.anchor { anchors[anchor.rawValue] = node }
            case .mapping(let mapping):
                guard depth < YAMLReader.maxDepth else { throw tooDeep(at: path) }
                for (key, value) in mapping {
                    let name = key.scalar.map { restored($0.string) } ?? "?"
                    try resolveAliases(key, path: path / name, depth: depth + 1)
                    try resolveAliases(value, path: path / name, depth: depth + 1)
                }
                if let anchor = mapping.anchor { anchors[anchor.rawValue] = node }
            case .alias:
                // The composer resolves aliases itself; and this reader's text has none.
                throw failure("unexpected alias node", at: path)
            }
        }

        /// What libyaml allows in an anchor or alias name.
        private static let anchorCharacters = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_".unicodeScalars)

        /// The node `node` stands for: an alias's target, else `node` itself.
        private func target(of node: Node) -> (node: Node, isAlias: Bool) {
            if case .scalar(let scalar) = node, aliasName(scalar) != nil, let position = Position(scalar.mark),
               let target = targets[position] {
                return (target, true)
            }
            return (node, false)
        }

        // MARK: Conversion

        /// Converts `node` (at nesting `depth`, 0 for a document) into a JSON value.
        mutating func value(of node: Node, path: FieldPath, depth: Int, throughAlias: Bool) throws(APIError) -> JSONValue {
            let (node, isAlias) = target(of: node)
            let throughAlias = throughAlias || isAlias
            try count(throughAlias, at: path, bytes: node.scalar?.string.utf8.count ?? 0)
            switch node {
            case .scalar(let scalar):
                return try value(of: scalar, path: path)
            case .sequence(let sequence):
                guard depth < YAMLReader.maxDepth else { throw tooDeep(at: path) }
                var elements: [JSONValue] = []
                elements.reserveCapacity(sequence.count)
                for (index, element) in sequence.enumerated() {
                    elements.append(try value(of: element, path: path / index, depth: depth + 1, throughAlias: throughAlias))
                }
                return .array(elements)
            case .mapping(let mapping):
                guard depth < YAMLReader.maxDepth else { throw tooDeep(at: path) }
                let members = try self.members(of: mapping, path: path, depth: depth, throughAlias: throughAlias)
                // Later members win (merged ones come first, so the mapping's own keys override them).
                var winner: [String: Int] = [:]
                for (index, member) in members.enumerated() { winner[member.key] = index }
                var object: [String: JSONValue] = [:]
                object.reserveCapacity(winner.count)
                for (index, member) in members.enumerated() where winner[member.key] == index {
                    object[member.key] = try value(of: member.value, path: path / member.key, depth: depth + 1,
                                                   throughAlias: member.throughAlias)
                }
                return .object(object)
            case .alias:
                throw failure("unexpected alias node", at: path)
            }
        }

        private typealias Member = (key: String, value: Node, throughAlias: Bool)

        /// A mapping's members in Yams' merge order: what merge keys (`<<`) bring first (the first of a list of
        /// merged mappings last, so it wins), then the mapping's own keys, which must differ from one another.
        private mutating func members(of mapping: Node.Mapping, path: FieldPath, depth: Int,
                                      throughAlias: Bool) throws(APIError) -> [Member] {
            var merged: [Member] = []
            var own: [Member] = []
            var ownKeys = Set<String>()
            for (keyNode, valueNode) in mapping {
                let (key, keyIsAlias) = target(of: keyNode)
                guard case .scalar(let keyScalar) = key else {
                    let kind = if case .mapping = key { "mapping" } else { "sequence" }
                    throw failure("a mapping key must be a scalar (text, a number...), not a \(kind)", at: path)
                }
                let name = keyText(keyScalar)
                if key.tag.rawValue == Tag.Name.merge.rawValue {
                    guard depth + 1 < YAMLReader.maxDepth else { throw tooDeep(at: path / name) }
                    let (source, sourceIsAlias) = target(of: valueNode)
                    let viaAlias = throughAlias || keyIsAlias || sourceIsAlias
                    var sources: [(Node.Mapping, Bool)] = []
                    switch source {
                    case .mapping(let single):
                        sources = [(single, viaAlias)]
                    case .sequence(let list):
                        for (index, item) in list.enumerated().reversed() {
                            let (entry, entryIsAlias) = target(of: item)
                            guard case .mapping(let single) = entry else {
                                throw failure("a merge key (<<) takes a mapping or a list of mappings", at: path / name / index)
                            }
                            sources.append((single, viaAlias || entryIsAlias))
                        }
                    default:
                        throw failure("a merge key (<<) takes a mapping or a list of mappings", at: path / name)
                    }
                    for (single, viaAlias) in sources {
                        let brought = try members(of: single, path: path, depth: depth + 1, throughAlias: viaAlias)
                        for member in brought {
                            try count(member.throughAlias, at: path / member.key, bytes: member.key.utf8.count)
                        }
                        merged.append(contentsOf: brought)
                    }
                } else {
                    guard ownKeys.insert(name).inserted else {
                        throw failure("duplicate key \(JSONValue.string(name).jsonString())", at: path / name)
                    }
                    try count(throughAlias || keyIsAlias, at: path / name, bytes: name.utf8.count)
                    own.append((name, valueNode, throughAlias || keyIsAlias))
                }
            }
            return merged + own
        }

        /// A scalar's value, resolved like Yams' default constructor.
        private mutating func value(of scalar: Node.Scalar, path: FieldPath) throws(APIError) -> JSONValue {
            let position = Position(scalar.mark)
            if let position, let known = scalars[position] { return known }
            let string = restored(scalar.string)
            let node = Node.scalar(string == scalar.string ? scalar : Node.Scalar(string, scalar.tag, scalar.style, scalar.mark))
            let value: JSONValue
            switch node.any {
            case is NSNull:
                value = .null
            case let bool as Bool:
                value = .bool(bool)
            case let int as Int:
                value = .number(Double(int))
            case let int as Int64:
                value = .number(Double(int))
            case let double as Double:
                guard double.isFinite else {
                    throw failure("\(string) is not a finite number (JSON has no infinity or NaN)", at: path)
                }
                value = .number(double)
            case let text as String:
                value = .string(text)
            case let date as Date:
                value = .string(dates.string(from: date))
            case let data as Data:
                value = .string(data.base64EncodedString())
            case let other:
                value = .string(String(describing: other))
            }
            if let position { scalars[position] = value }
            return value
        }

        /// A mapping key's text.
        private mutating func keyText(_ scalar: Node.Scalar) -> String {
            guard let position = Position(scalar.mark) else { return restored(scalar.string) }
            if let known = keys[position] { return known }
            let text = restored(scalar.string)
            keys[position] = text
            return text
        }

        /// The text with the alias marker turned back into `*`.
        private func restored(_ text: String) -> String {
            guard text.unicodeScalars.contains(marker) else { return text }
            return String(String.UnicodeScalarView(text.unicodeScalars.lazy.map { $0 == marker ? "*" : $0 }))
        }

        // MARK: Bounds and errors

        private mutating func count(_ throughAlias: Bool, at path: FieldPath, bytes: Int) throws(APIError) {
            guard throughAlias else { return }
            expanded += 1
            expandedBytes += bytes
            guard expanded <= YAMLReader.maxAliasExpansion else {
                throw failure("aliases expand to more than \(YAMLReader.maxAliasExpansion) values (an alias repeats everything its anchor holds); at most \(YAMLReader.maxAliasExpansion) are accepted", at: path)
            }
            guard expandedBytes <= YAMLReader.maxAliasExpansionBytes else {
                throw failure("aliases expand to more than \(YAMLReader.maxAliasExpansionBytes) bytes of text (an alias repeats everything its anchor holds); at most \(YAMLReader.maxAliasExpansionBytes) are accepted", at: path)
            }
        }

        private func tooDeep(at path: FieldPath) -> APIError {
            failure("nested deeper than \(YAMLReader.maxDepth) levels", at: path)
        }

        private func failure(_ reason: String, at path: FieldPath) -> APIError {
            let place = document.map { " in document \($0)" } ?? ""
            return APIError(.invalidDocument, "\(reason) at \(path)\(place)", fields: [FieldError(path: path, message: reason)])
        }
    }
}
