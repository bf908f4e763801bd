import AIOSModel
import AIOSPlacement

/// Small networks for the plugin tests: nodes with labels and GPU models, clusters around them, and a
/// placer call with a fixed instance-id sequence.
enum PlacementFixtures {
    typealias GPU = CapacitySnapshot.GPU

    static func gpus(_ count: Int, model: String? = nil, free: Double = 40000, util: Double = 0, firstId: Int = 0) -> [GPU] {
        (firstId..<(firstId + count)).map { GPU(id: String($0), totalMemory: 40960, freeMemory: free, utilization: util, modelName: model) }
    }

    static func node(_ id: String, gpus: [GPU] = [], labels: [String: String] = [:], vcpus: Double = 16, load: Double = 1,
                     age: Double = 1) -> CapacitySnapshot.Node {
        CapacitySnapshot.Node(id: id, vcpus: vcpus, memory: 64000, declaredGPUs: gpus.count,
                              live: .init(ageSeconds: age, load15m: load, memoryFree: 60000, gpus: gpus), labels: labels)
    }

    static func cluster(_ id: String, _ nodes: [CapacitySnapshot.Node], document: JSONValue? = nil) -> CapacitySnapshot.Cluster {
        let free = nodes.flatMap { $0.live?.gpus ?? [] }.reduce(0) { $0 + $1.freeMemory }
        return CapacitySnapshot.Cluster(id: id, document: document ?? ["id": .string(id)],
                                        metrics: ["freshNodes": .number(Double(nodes.count)), "cluster": ["gpu": ["totalFreeMem": .number(free)], "vcpu": ["load15m": 1]]],
                                        nodes: nodes)
    }

    static func place(_ resources: ResourceRequest, instances: Int = 1, _ clusters: [CapacitySnapshot.Cluster],
                      reservations: [Reservation] = [], plugins: PlacementPlugins = .builtIn) -> PlacementOutcome {
        var counter = 0
        let request = PlacementRequest(blockId: "b", instances: instances, selection: ClusterSelection(), resources: resources)
        return Placer.place(request, in: CapacitySnapshot(clusters: clusters, ttl: 30), reservations: reservations, plugins: plugins) {
            counter += 1
            return "i\(counter)"
        }
    }

    static func state(instance: Int = 0) -> PlacementState {
        PlacementState(clusterId: "c", blockId: "b", instance: instance, instances: 1, ttl: 30)
    }
}

extension PlacementOutcome {
    var reservations: [Reservation] {
        if case .placed(_, let reservations, _) = self { return reservations }
        return []
    }

    var report: PlacementReport {
        switch self {
        case .placed(_, _, let report), .unplaced(let report): report
        }
    }
}
