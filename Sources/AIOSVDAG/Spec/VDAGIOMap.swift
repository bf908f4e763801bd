import AIOSModel

/// A node's `IOMap` (a sibling of its `spec`): `[{"inputs": [names], "outputs": [names]}]`, naming what
/// the node's block takes and produces.
///
/// AIOS stores it and never uses it; here the union of the entries' names declares the node's inputs and
/// outputs, so graph edges (`outputNames`) and graph ends (`inputNames`) can be checked against it.
/// An empty list means "undeclared": nothing is checked against it.
enum VDAGIOMap {
    /// Reads `IOMap` at `path`: the union of the entries' inputs and outputs, in first-seen order.
    /// When anything is bad (reported to `reader`) both lists come back empty, so the graph checks treat the
    /// node as undeclared instead of adding errors that follow from the bad IOMap.
    static func read(_ value: JSONValue?, at path: FieldPath, reader: inout FieldReader) -> (inputs: [String], outputs: [String]) {
        guard let value, !value.isNull else { return ([], []) }
        guard let entries = value.arrayValue else {
            reader.fail(path, "expected an array of {\"inputs\": [names], \"outputs\": [names]}, got \(value.typeName)")
            return ([], [])
        }
        let before = reader.errors.count
        var inputs: [String] = []
        var outputs: [String] = []
        for (index, entry) in entries.enumerated() {
            guard let object = entry.objectValue else {
                reader.fail(path / index, "expected an object {\"inputs\": [names], \"outputs\": [names]}, got \(entry.typeName)")
                continue
            }
            for name in VDAGNameList.read(object["inputs"], at: path / index / "inputs", reader: &reader) ?? [] where !inputs.contains(name) {
                inputs.append(name)
            }
            for name in VDAGNameList.read(object["outputs"], at: path / index / "outputs", reader: &reader) ?? [] where !outputs.contains(name) {
                outputs.append(name)
            }
        }
        return reader.errors.count == before ? (inputs, outputs) : ([], [])
    }
}
