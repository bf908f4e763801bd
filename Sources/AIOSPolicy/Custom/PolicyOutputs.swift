import AIOSModel

/// A custom policy's result read for what the platform acts on, per kind (AIOS's output fields). A result of
/// the wrong shape, or naming what was not offered, is a `PolicyFailure(.output)` naming the field.
public enum PolicyOutputs {
    static func bad(_ field: String, _ message: String) -> PolicyFailure {
        PolicyFailure(.output, message, field: field)
    }

    /// loadBalancer: `{instance_id}`, one of `offered`.
    public static func instance(_ result: JSONValue, offered: [String]) -> Result<String, PolicyFailure> {
        guard let object = result.objectValue else { return .failure(bad("result", "expected {instance_id}, got \(result.typeName)")) }
        guard let id = object["instance_id"]?.stringValue else { return .failure(bad("instance_id", "expected a string, got \(object["instance_id"]?.typeName ?? "nothing")")) }
        guard offered.contains(id) else { return .failure(bad("instance_id", "\"\(id.prefix(80))\" is not one of the ready instances \(offered)")) }
        return .success(id)
    }

    /// clusterAllocator `selection`: `{clusters: [id | {id}]}`, each one of `offered`, best first; empty means none fits.
    public static func clusters(_ result: JSONValue, offered: Set<String>) -> Result<[String], PolicyFailure> {
        guard let list = result["clusters"]?.arrayValue else {
            return .failure(bad("clusters", "expected {clusters: [cluster ids]}, got \(result.objectValue == nil ? result.typeName : "no clusters list")"))
        }
        var ids: [String] = []
        for (index, entry) in list.enumerated() {
            guard let id = entry.stringValue ?? entry["id"]?.stringValue else { return .failure(bad("clusters[\(index)]", "expected a cluster id, got \(entry.typeName)")) }
            guard offered.contains(id) else { return .failure(bad("clusters[\(index)]", "\"\(id.prefix(80))\" is not one of the clusters that passed the filter")) }
            if !ids.contains(id) { ids.append(id) }
        }
        return .success(ids)
    }

    /// clusterAllocator `post_dry_run`: one element of the offered list (its `id`).
    public static func chosenCluster(_ result: JSONValue, offered: Set<String>) -> Result<String, PolicyFailure> {
        guard let id = result["id"]?.stringValue ?? result.stringValue else { return .failure(bad("id", "expected one element of clusters (with its id), got \(result.typeName)")) }
        guard offered.contains(id) else { return .failure(bad("id", "\"\(id.prefix(80))\" is not one of the dry-run clusters")) }
        return .success(id)
    }

    /// resourceAllocator `allocation`/`scale`: `{node_id, gpus: [int]}`.
    public static func allocation(_ result: JSONValue) -> Result<(node: String, gpus: [String]), PolicyFailure> {
        guard let object = result.objectValue else { return .failure(bad("result", "expected {node_id, gpus}, got \(result.typeName)")) }
        guard let node = object["node_id"]?.stringValue else { return .failure(bad("node_id", "expected a string, got \(object["node_id"]?.typeName ?? "nothing")")) }
        var gpus: [String] = []
        switch object["gpus"] {
        case nil, .null?: break
        case .array(let list)?:
            for (index, entry) in list.enumerated() {
                if let number = entry.intValue, number >= 0 { gpus.append(String(number)) } else if let text = entry.stringValue { gpus.append(text) } else {
                    return .failure(bad("gpus[\(index)]", "expected a GPU index, got \(entry.typeName)"))
                }
            }
        case let other?:
            return .failure(bad("gpus", "expected a list of GPU indices, got \(other.typeName)"))
        }
        return .success((node, gpus))
    }

    /// autoscaler: `{skip: true}`, `{operation: "upscale", instances_count}` or `{operation: "downscale", instances_list}`.
    public enum Scaling: Sendable, Equatable {
        case skip
        case up(Int)
        case down([String])
    }

    /// The most instances one upscale may ask for (the runtime bounds the count by `maxInstances` anyway; this
    /// keeps a hostile answer from overflowing the arithmetic).
    public static let maxUpscale = 100_000

    public static func scaling(_ result: JSONValue, current: [String]) -> Result<Scaling, PolicyFailure> {
        guard let object = result.objectValue else { return .failure(bad("result", "expected {skip} or {operation, ...}, got \(result.typeName)")) }
        if object["skip"]?.boolValue == true { return .success(.skip) }
        switch object["operation"]?.stringValue {
        case "upscale":
            guard let count = object["instances_count"]?.intValue, (0...maxUpscale).contains(count) else {
                return .failure(bad("instances_count", "expected an integer from 0 to \(maxUpscale)"))
            }
            return .success(count == 0 ? .skip : .up(count))
        case "downscale":
            guard let list = object["instances_list"]?.arrayValue else { return .failure(bad("instances_list", "expected a list of instance ids")) }
            var ids: [String] = []
            for (index, entry) in list.enumerated() {
                guard let id = entry.stringValue, current.contains(id) else {
                    return .failure(bad("instances_list[\(index)]", "\(entry.stringValue.map { "\"\($0.prefix(80))\"" } ?? entry.typeName) is not an instance of the block"))
                }
                if !ids.contains(id) { ids.append(id) }
            }
            return .success(ids.isEmpty ? .skip : .down(ids))
        case let other:
            return .failure(bad("operation", "expected skip: true or operation \"upscale\"|\"downscale\", got \(other.map { "\"\($0.prefix(40))\"" } ?? "nothing")"))
        }
    }

    /// quotaChecker: `{allowed: bool}`.
    public static func allowed(_ result: JSONValue) -> Result<Bool, PolicyFailure> {
        guard let allowed = result["allowed"]?.boolValue else { return .failure(bad("allowed", "expected a boolean")) }
        return .success(allowed)
    }

    /// preprocessing/postprocessing: `{packet}`.
    public static func packet(_ result: JSONValue) -> Result<JSONValue, PolicyFailure> {
        guard let packet = result["packet"] else { return .failure(bad("packet", "expected {packet: ...}")) }
        return .success(packet)
    }

    /// assignment: `{block_id}`, one of `offered`.
    public static func block(_ result: JSONValue, offered: Set<String>) -> Result<String, PolicyFailure> {
        guard let id = result["block_id"]?.stringValue else { return .failure(bad("block_id", "expected a string")) }
        guard offered.contains(id) else { return .failure(bad("block_id", "\"\(id.prefix(80))\" is not one of the candidate blocks")) }
        return .success(id)
    }
}
