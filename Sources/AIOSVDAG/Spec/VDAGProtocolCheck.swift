import AIOSModel

/// Checks that what a parent produces fits what its child takes, when both say so.
///
/// Applied to an edge parent → child when the child has exactly one parent (with several, the child's
/// input is assembled from all of them and no single parent has to cover it) and both nodes declare
/// non-empty protocols (the parent's `outputProtocol`, the child's `inputProtocol`; field name →
/// `{"type": ..., "required": ...}`, or the `{"type": "object", "properties": {...}}` spelling).
///
/// Rules:
/// - The child's fields marked `"required": true` must be in the parent's outputProtocol; when the child
///   marks none as required, all of its fields must be.
/// - Every field both protocols declare must have compatible types where both give one: equal, either is
///   `any`, or an `integer` output into a `number` input.
enum VDAGProtocolCheck {
    static func problems(parent: VDAGNodeOutline, child: VDAGNodeOutline) -> [String] {
        guard let produced = parent.outputProtocol, let taken = child.inputProtocol else { return [] }
        let output = ProtocolTemplate(fields: produced).fields
        let input = ProtocolTemplate(fields: taken).fields
        guard !output.isEmpty, !input.isEmpty else { return [] }

        let marked = input.filter { $0.value["required"]?.boolValue == true }
        let needed = (marked.isEmpty ? input : marked).keys.sorted()
        var problems: [String] = []
        for name in needed where output[name] == nil {
            problems.append("\"\(child.label)\"'s inputProtocol requires field \"\(name)\", which \"\(parent.label)\"'s outputProtocol does not declare; it declares: \(output.keys.sorted().joined(separator: ", "))")
        }
        for name in input.keys.sorted() {
            guard let inType = input[name]?["type"]?.stringValue, let outType = output[name]?["type"]?.stringValue,
                  !compatible(output: outType, input: inType) else { continue }
            problems.append("field \"\(name)\" is \(outType) in \"\(parent.label)\"'s outputProtocol but \"\(child.label)\"'s inputProtocol expects \(inType)")
        }
        return problems
    }

    static func compatible(output: String, input: String) -> Bool {
        output == input || output == "any" || input == "any" || (output == "integer" && input == "number")
    }
}
