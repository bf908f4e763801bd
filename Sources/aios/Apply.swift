import AIOSClient
import AIOSModel
import ArgumentParser
import Foundation

struct Apply: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create what a spec file describes: component, cluster, node or block (JSON or YAML; AIOS envelope or bare values).")

    @Option(name: .shortAndLong, help: "Spec file, or - for standard input. YAML files may hold several documents.")
    var file: String

    @Flag(help: "For blocks: validate and show where they would be placed (or why not), storing nothing.")
    var dryRun = false

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
            if dryRun && kind != .block && kind != .vdag {
                print("\(kind.rawValue) in \(label): skipped (--dry-run applies to blocks and vDAGs)")
                continue
            }
            var submitted = dryRun ? Self.withMode("dry-run", document) : document
            if kind == .component, file != "-" {
                submitted = Self.resolvingRuntimeDirectory(submitted, against: URL(fileURLWithPath: file).deletingLastPathComponent())
            }
            if kind == .policy {
                do {
                    submitted = try Self.attachingArchive(submitted, relativeTo: file == "-" ? URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
                                                                                          : URL(fileURLWithPath: file).deletingLastPathComponent())
                } catch {
                    printError("\(label): \(error)")
                    failures += 1
                    continue
                }
            }
            let reply = try await server.client.post("/api/\(kind.action)", body: submitted.jsonData())
            do {
                let body = try reply.get()
                for warning in body["result"]?["warnings"]?.arrayValue ?? [] {
                    printError("\(label): warning: \(warning["path"]?.stringValue ?? "?"): \(warning["message"]?.stringValue ?? "")")
                }
                if dryRun {
                    print(kind == .vdag ? (body["result"] ?? .null).jsonString(pretty: true) : Self.dryRunText(body["result"] ?? .null))
                    continue
                }
                print("\(kind.rawValue) \(Self.name(of: body["result"] ?? .null, kind: kind)) created (task \(body["task_id"]?.stringValue ?? "-"))")
                if kind == .block, body["result"]?["phase"]?.stringValue == "Starting", let blockId = body["result"]?["blockId"]?.stringValue,
                   let values = try? SpecEnvelope(document: document).values, let uri = values["blockComponentURI"]?.stringValue {
                    try await followImagePull(blockId: blockId, componentURI: uri)
                }
            } catch let error as APIError {
                printError("\(label): \(kind.rawValue) rejected: \(error)")
                failures += 1
            }
        }
        if failures > 0 { throw ExitCode.failure }
    }

    /// For a block whose component is an OCI image: prints the image pull's events as they come, until the
    /// image is pulled (or the pull failed).
    private func followImagePull(blockId: String, componentURI: String) async throws {
        // A component URI is path-safe as it is (`type.name:version-tag`).
        guard let component = try? await server.client.get("/api/components/\(componentURI)").get(),
              component["containerRegistryInfo"]?["containerImage"]?.stringValue != nil, component["runtime"] == nil else { return }
        var shown = 0
        let deadline = Date().addingTimeInterval(900)
        while Date() < deadline {
            let block = try await server.client.get("/api/blocks/\(blockId)").get()
            let pulls = (block["events"]?.arrayValue ?? []).compactMap { event -> (type: BlockEventType, message: String)? in
                let type = BlockEventType(stored: event["type"]?.stringValue ?? "")
                return type.isImagePull ? (type, event["message"]?.stringValue ?? "") : nil
            }
            for event in pulls.dropFirst(shown) {
                print("  \(event.type.rawValue): \(event.message)")
            }
            shown = max(shown, pulls.count)
            let phase = block["phase"]?.stringValue.flatMap(BlockPhase.init(rawValue:))
            if pulls.contains(where: { $0.type == .imagePulled || $0.type == .imagePullFailed })
                || ![.starting, .placing, .pending].contains(phase) { return }
            try await Task.sleep(for: .milliseconds(200))
        }
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
            return .failure(Problem(description: "cannot tell what this spec is: expected a component (componentId), cluster (id with regionId, nodes or clusterMetadata), node (clusterId), block (blockComponentURI), vDAG (vdagName) or policy (name, version, code, policy_parameters)"))
        }
        return .success(kind)
    }

    /// A policy document whose `code` is a path to an archive (AIOS writes it so) with the archive read and sent
    /// as base64 (`code.archive`); a path is relative to the spec file's directory.
    static func attachingArchive(_ document: JSONValue, relativeTo directory: URL) throws -> JSONValue {
        let envelope = try SpecEnvelope(document: document)
        guard let path = envelope.values["code"]?.stringValue else { return document }
        guard !path.contains("://") else {
            throw Problem(description: "code: \(path) is a URL; download the archive and name the file (the platform fetches no URL)")
        }
        let url = path.hasPrefix("/") ? URL(fileURLWithPath: path) : directory.appendingPathComponent(path)
        let size = (try? FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int) ?? 0
        guard size <= 10 * 1024 * 1024 else { throw Problem(description: "code: \(url.path) is \(size) bytes; archives of at most 10 MiB are accepted") }
        guard let data = FileManager.default.contents(atPath: url.path) else { throw Problem(description: "code: cannot read \(url.path)") }
        var values = envelope.values
        values["code"] = ["archive": .string(data.base64EncodedString())]
        return .object(values)
    }

    /// The component with a relative `runtime.cwd` and `containerRegistryInfo.initContainer.cwd` (or none, when
    /// the section gives a command) made absolute against the spec file's directory.
    static func resolvingRuntimeDirectory(_ document: JSONValue, against directory: URL) -> JSONValue {
        func absolute(_ section: [String: JSONValue]) -> [String: JSONValue] {
            let cwd = section["cwd"]?.stringValue ?? "."
            guard !cwd.hasPrefix("/") else { return section }
            var section = section
            section["cwd"] = .string(directory.appendingPathComponent(cwd).standardizedFileURL.path)
            return section
        }
        func resolve(_ values: [String: JSONValue]) -> [String: JSONValue] {
            var values = values
            if let runtime = values["runtime"]?.objectValue {
                values["runtime"] = .object(absolute(runtime))
            }
            if var registryInfo = values["containerRegistryInfo"]?.objectValue,
               let initContainer = registryInfo["initContainer"]?.objectValue, initContainer["command"] != nil {
                registryInfo["initContainer"] = .object(absolute(initContainer))
                values["containerRegistryInfo"] = .object(registryInfo)
            }
            return values
        }
        guard case .object(var root) = document else { return document }
        if case .object(var body)? = root["body"], case .object(var spec)? = body["spec"], case .object(let values)? = spec["values"] {
            spec["values"] = .object(resolve(values))
            body["spec"] = .object(spec)
            root["body"] = .object(body)
            return .object(root)
        }
        return .object(resolve(root))
    }

    /// The document with `mode` set in its values, wherever they sit (envelope or bare).
    static func withMode(_ mode: String, _ document: JSONValue) -> JSONValue {
        guard case .object(var root) = document else { return document }
        if case .object(var body)? = root["body"], case .object(var spec)? = body["spec"], case .object(var values)? = spec["values"] {
            values["mode"] = .string(mode)
            spec["values"] = .object(values)
            body["spec"] = .object(spec)
            root["body"] = .object(body)
        } else {
            root["mode"] = .string(mode)
        }
        return .object(root)
    }

    static func dryRunText(_ result: JSONValue) -> String {
        let blockId = result["blockId"]?.stringValue ?? "?"
        var lines: [String] = []
        if result["placeable"]?.boolValue == true {
            lines.append("block \(blockId) would be placed on cluster \(result["placement"]?["clusterId"]?.stringValue ?? "?") (dry run, nothing stored):")
            for instance in result["placement"]?["instances"]?.arrayValue ?? [] {
                let gpus = instance["gpus"]?.arrayValue?.compactMap(\.stringValue) ?? []
                lines.append("  \(instance["instanceId"]?.stringValue ?? "?") → node \(instance["nodeId"]?.stringValue ?? "?")" + (gpus.isEmpty ? "" : ", GPUs \(gpus.joined(separator: ","))"))
            }
        } else {
            lines.append("block \(blockId) cannot be placed (dry run, nothing stored):")
            lines += Describe.reportLines(result["report"] ?? .null).map { "  " + $0 }
        }
        for note in result["policies"]?.arrayValue ?? [] { lines.append("  policy: \(note.stringValue ?? "")") }
        return lines.joined(separator: "\n")
    }

    static func name(of result: JSONValue, kind: SpecKind) -> String {
        switch kind {
        case .component: result["componentURI"]?.stringValue ?? "?"
        case .cluster: result["clusterId"]?.stringValue ?? "?"
        case .node: "\(result["clusterId"]?.stringValue ?? "?")/\(result["nodeId"]?.stringValue ?? "?")"
        case .block: "\(result["blockId"]?.stringValue ?? "?") (\(result["phase"]?.stringValue ?? "?"))"
        case .policy: "\(result["policy_rule_uri"]?.stringValue ?? "?") (\(result["type"]?.stringValue ?? "?"), archive \(result["code"]?["digest"]?.stringValue?.prefix(19) ?? "?"))"
        case .vdag: "\(result["vdagURI"]?.stringValue ?? "?") (nodes: \((result["assignment"]?.objectValue ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key) → \($0.value.stringValue ?? "?")" }.joined(separator: ", ")))"
        }
    }
}
