import AIOSModel
import AIOSRuntime
import Foundation

/// How registry records read over the API.
enum Views {
    static func time(_ date: Date) -> JSONValue {
        JSONValue.time(date)
    }

    static func component(_ record: ComponentRecord) -> JSONValue {
        var document = record.spec.document
        document["createdAt"] = time(record.createdAt)
        return .object(document)
    }

    /// A cluster: its document (sealed values, a Kubernetes token, as `"***"`), its driver and, for a cluster the
    /// platform connects to, whether its API answers (`status`).
    static func cluster(_ cluster: ClusterSpec, status: JSONValue? = nil) -> JSONValue {
        var view = SecretValues.redacted(cluster.assembled).objectValue ?? [:]
        view["driver"] = .string(InstanceDrivers.name(for: cluster))
        if let status { view["status"] = status }
        return .object(view)
    }

    /// `{"blockId", "componentURI", "phase", "reason", "spec", "placement": {"clusterId", "driver", "simulated", "instances"}, "instances", "events", ...}`
    static func block(_ block: BlockRecord, events: [BlockEvent], driver: Driver?) -> JSONValue {
        .object([
            "blockId": .string(block.blockId),
            "componentURI": .string(block.componentURI.description),
            "phase": .string(block.phase.rawValue),
            "reason": block.reason.map(JSONValue.string) ?? .null,
            // Sealed secrets read as "***".
            "spec": SecretValues.redacted(.object(block.spec)),
            "minInstances": .number(Double(block.minInstances)),
            "maxInstances": .number(Double(block.maxInstances)),
            "desiredInstances": .number(Double(block.desiredInstances)),
            "resolved": SecretValues.redacted((try? JSONValue(encoding: block.resolved)) ?? .null),
            "placement": placement(block.placement, driver: driver),
            "placementReport": block.placementReport,
            "instances": .array(block.instances.map(\.json)),
            "events": .array(events.map { ["time": time($0.time), "type": .string($0.type.rawValue), "message": .string($0.message)] }),
            "createdAt": time(block.createdAt),
            "updatedAt": time(block.updatedAt),
        ])
    }

    /// Where a placement runs: its cluster's driver, and whether its GPUs are simulated (its instances run on
    /// this machine with the GPU ids of their allocation).
    struct Driver: Sendable {
        var name: String
        var simulated: Bool
    }

    static func placement(_ placement: BlockPlacement, driver: Driver?) -> JSONValue {
        [
            "clusterId": placement.clusterId.map(JSONValue.string) ?? .null,
            "driver": driver.map { .string($0.name) } ?? .null,
            "simulated": driver.map { .bool($0.simulated) } ?? .null,
            "instances": .array(placement.instances.map { instance in
                ["instanceId": .string(instance.instanceId), "nodeId": .string(instance.nodeId),
                 "gpus": .array(instance.gpus.map(JSONValue.string))]
            }),
        ]
    }

    static func task(_ task: TaskRecord) -> JSONValue {
        .object([
            "task_id": .string(task.id),
            "action": .string(task.action),
            "subject": .string(task.subject),
            "status": .string(task.status.rawValue),
            "result": task.result,
            "createdAt": time(task.createdAt),
            "updatedAt": time(task.updatedAt),
        ])
    }

}
