import AIOSClient
import AIOSModel
import ArgumentParser
import Foundation

struct Apply: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create what a spec file describes: component, cluster, node or block (JSON or YAML; AIOS envelope or bare values).")

    @Option(name: .shortAndLong, help: "Spec file, or - for standard input. YAML files may hold several documents.")
    var file: String

    @OptionGroup var server: ServerOptions

    func run() async throws {
        let data: Data
        do {
            data = file == "-" ? FileHandle.standardInput.readDataToEndOfFile() : try Data(contentsOf: URL(fileURLWithPath: file))
        } catch {
            throw ValidationError("cannot read \(file): \(error.localizedDescription)")
        }
        var documents = try DocumentDecoder.decodeAll(data)
        if documents.count == 1, case .array(let list) = documents[0] { documents = list }

        var failures = 0
        for (index, document) in documents.enumerated() {
            let name = file == "-" ? "stdin" : file
            let label = documents.count > 1 ? "\(name)[\(index)]" : name
            let kind: SpecKind
            switch Self.kind(of: document) {
            case .success(let detected):
                kind = detected
            case .failure(let problem):
                printError("\(label): \(problem)")
                failures += 1
                continue
            }
            let reply = try await server.client.post("/api/\(kind.action)", body: document.jsonData())
            do {
                let body = try reply.get()
                print("\(kind.rawValue) \(Self.name(of: body["result"] ?? .null, kind: kind)) created (task \(body["task_id"]?.stringValue ?? "-"))")
            } catch let error as APIError {
                printError("\(label): \(kind.rawValue) rejected: \(error)")
                failures += 1
            }
        }
        if failures > 0 { throw ExitCode.failure }
    }

    struct Problem: Error, CustomStringConvertible {
        var description: String
    }

    /// What a document describes, told from its values.
    static func kind(of document: JSONValue) -> Result<SpecKind, Problem> {
        let values: [String: JSONValue]
        do {
            values = try SpecEnvelope(document: document).values
        } catch {
            return .failure(Problem(description: error.description))
        }
        guard let kind = SpecKind.detect(values) else {
            return .failure(Problem(description: "cannot tell what this spec is: expected a component (componentId), cluster (id with regionId, nodes or clusterMetadata), node (clusterId) or block (blockComponentURI)"))
        }
        return .success(kind)
    }

    static func name(of result: JSONValue, kind: SpecKind) -> String {
        switch kind {
        case .component: result["componentURI"]?.stringValue ?? "?"
        case .cluster: result["clusterId"]?.stringValue ?? "?"
        case .node: "\(result["clusterId"]?.stringValue ?? "?")/\(result["nodeId"]?.stringValue ?? "?")"
        case .block: "\(result["blockId"]?.stringValue ?? "?") (\(result["phase"]?.stringValue ?? "?"))"
        }
    }
}
