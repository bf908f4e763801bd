import AIOSModel
import AIOSRuntime
import Foundation

/// The objects an instance or a job is made of on a Kubernetes cluster: a Pod bound to the placer's node
/// (`spec.nodeName`: the platform is the scheduler), its block file as a ConfigMap (a Secret when the block
/// file holds the block's opened secrets) mounted read-only, a pull Secret for a private registry, and a Job
/// for an init program. Pure functions of their inputs, so they are checked against golden JSON.
public struct PodManifests: Sendable {
    public let namespace: String
    /// Labels every object with this platform's id, so a restarted platform finds its own and no other's.
    public let platformId: String
    /// Seconds Kubernetes gives a container between SIGTERM and SIGKILL.
    public var terminationGraceSeconds = 10

    public init(namespace: String, platformId: String) {
        self.namespace = namespace
        self.platformId = platformId
    }

    public func labels(_ key: InstanceKey) -> [String: String] {
        [KubernetesNames.managedBy: "aios", KubernetesNames.platformLabel: platformId,
         KubernetesNames.blockLabel: key.blockId, KubernetesNames.instanceLabel: key.instanceId]
    }

    /// `aios.platform=<id>`: the selector of everything this platform made.
    public var platformSelector: String { KubernetesNames.selector([KubernetesNames.platformLabel: platformId]) }

    private func metadata(_ name: String, labels: [String: String]) -> JSONValue {
        ["name": .string(name), "namespace": .string(namespace), "labels": .object(labels.mapValues(JSONValue.string))]
    }

    /// The block file as a ConfigMap, or as a Secret when `holdsSecrets`.
    public func blockFile(_ key: InstanceKey, contents: String, holdsSecrets: Bool) -> JSONValue {
        let name = KubernetesNames.blockFile(blockId: key.blockId, instanceId: key.instanceId)
        if holdsSecrets {
            return ["apiVersion": "v1", "kind": "Secret", "metadata": metadata(name, labels: labels(key)), "type": "Opaque",
                    "data": .object([KubernetesNames.blockFileName: .string(Data(contents.utf8).base64EncodedString())])]
        }
        return ["apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata(name, labels: labels(key)),
                "data": .object([KubernetesNames.blockFileName: .string(contents)])]
    }

    /// A `kubernetes.io/dockerconfigjson` Secret with a registry's credentials.
    public func pullSecret(_ key: InstanceKey, host: String, username: String, password: String) -> JSONValue {
        let auth = Data("\(username):\(password)".utf8).base64EncodedString()
        let config = JSONValue.object(["auths": .object([host: ["username": .string(username), "password": .string(password), "auth": .string(auth)]])])
        return ["apiVersion": "v1", "kind": "Secret", "metadata": metadata(KubernetesNames.pullSecret(blockId: key.blockId, instanceId: key.instanceId), labels: labels(key)),
                "type": "kubernetes.io/dockerconfigjson",
                "data": [".dockerconfigjson": .string(Data(config.jsonString().utf8).base64EncodedString())]]
    }

    /// The instance's environment in the pod: its variables, with the block file at its mount and `AIOS_LISTEN` on
    /// every address of the pod. GPU visibility is left to the device plugin, which picks the GPUs.
    public static func environment(_ launch: InstanceLaunch, port: Int) -> [String: String] {
        var environment = launch.environment
        environment["CUDA_VISIBLE_DEVICES"] = nil
        environment["NVIDIA_VISIBLE_DEVICES"] = nil
        environment["AIOS_BLOCK_FILE"] = "\(KubernetesNames.blockFileDirectory)/\(KubernetesNames.blockFileName)"
        environment["AIOS_LISTEN"] = "0.0.0.0:\(port)"
        return environment
    }

    static func env(_ environment: [String: String]) -> JSONValue {
        .array(environment.sorted { $0.key < $1.key }.map { ["name": .string($0.key), "value": .string($0.value)] })
    }

    /// The instance's Pod: bound to its node, its GPUs as `nvidia.com/gpu` limits, CPUs and memory as requests
    /// and limits, its block file mounted read-only, restarted by the platform (never by the kubelet: one pod
    /// is one run, so exits and crash loops are the supervisor's to count).
    public func pod(_ launch: InstanceLaunch, image: String, port: Int, blockFileHoldsSecrets: Bool, pullSecret: String?) -> JSONValue {
        var limits: [String: JSONValue] = [:]
        if !launch.gpus.isEmpty { limits[KubernetesNode.gpuResource] = .string(String(launch.gpus.count)) }
        if let cpus = launch.cpus, cpus > 0 { limits["cpu"] = .string(KubernetesQuantity.cpu(cpus)) }
        if let memory = launch.memoryMB, memory > 0 { limits["memory"] = .string(KubernetesQuantity.memory(memory)) }
        var requests = limits
        requests[KubernetesNode.gpuResource] = nil
        var resources: [String: JSONValue] = [:]
        if !limits.isEmpty { resources["limits"] = .object(limits) }
        if !requests.isEmpty { resources["requests"] = .object(requests) }
        let blockFileName = KubernetesNames.blockFile(blockId: launch.blockId, instanceId: launch.instanceId)
        let volume: JSONValue = blockFileHoldsSecrets
            ? ["name": "block", "secret": ["secretName": .string(blockFileName)]]
            : ["name": "block", "configMap": ["name": .string(blockFileName)]]
        var spec: [String: JSONValue] = [
            "nodeName": .string(launch.nodeId),
            "restartPolicy": "Never",
            "automountServiceAccountToken": false,
            "enableServiceLinks": false,
            "terminationGracePeriodSeconds": .number(Double(terminationGraceSeconds)),
            "tolerations": .array(KubernetesNode.toleratedTaintKeys.sorted().map { ["key": .string($0), "operator": "Exists"] }),
            "containers": [[
                "name": "instance",
                "image": .string(image),
                "env": Self.env(Self.environment(launch, port: port)),
                "ports": [["name": "instance", "containerPort": .number(Double(port)), "protocol": "TCP"]],
                "resources": .object(resources),
                "volumeMounts": [["name": "block", "mountPath": .string(KubernetesNames.blockFileDirectory), "readOnly": true]],
            ]],
            "volumes": [volume],
        ]
        if let pullSecret { spec["imagePullSecrets"] = [["name": .string(pullSecret)]] }
        var meta = metadata(KubernetesNames.pod(blockId: launch.blockId, instanceId: launch.instanceId), labels: labels(launch.key)).objectValue ?? [:]
        meta["annotations"] = ["aios.cluster-id": .string(launch.clusterId), "aios.port": .string(String(port))]
        return ["apiVersion": "v1", "kind": "Pod", "metadata": .object(meta), "spec": .object(spec)]
    }

    /// A job's name: this platform's id in it, so platforms sharing a namespace keep apart.
    public func jobName(_ job: JobLaunch) -> String { KubernetesNames.job("\(platformId)-\(job.name)") }

    /// Where a job's block file is mounted, and its state directory (an `emptyDir`: not kept between its runs).
    public static let jobBlockFile = "\(KubernetesNames.blockFileDirectory)/\(KubernetesNames.blockFileName)"
    public static let jobStateDirectory = "/var/lib/aios-init/state"

    /// A job's variables as they are in its pod: the block file and the state directory where they are mounted.
    public static func jobEnvironment(_ job: JobLaunch, hasBlockFile: Bool) -> [String: String] {
        var environment = job.environment
        if hasBlockFile { environment["AIOS_BLOCK_FILE"] = jobBlockFile } else { environment["AIOS_BLOCK_FILE"] = nil }
        if environment["AIOS_INIT_STATE_DIR"] != nil { environment["AIOS_INIT_STATE_DIR"] = jobStateDirectory }
        return environment
    }

    /// A Secret with a job's variables (they may hold opened secrets: an init program's result) and its block file.
    public func jobSecret(_ job: JobLaunch, environment: [String: String], blockFile: String?) -> JSONValue {
        var data: [String: JSONValue] = [:]
        for (key, value) in environment { data[key] = .string(Data(value.utf8).base64EncodedString()) }
        var secret: [String: JSONValue] = [
            "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": metadata(jobName(job), labels: jobLabels(job)), "data": .object(data),
        ]
        if let blockFile {
            secret["metadata"] = metadata(jobName(job) + "-files", labels: jobLabels(job))
            secret["data"] = .object([KubernetesNames.blockFileName: .string(Data(blockFile.utf8).base64EncodedString())])
        }
        return .object(secret)
    }

    func jobLabels(_ job: JobLaunch) -> [String: String] {
        [KubernetesNames.managedBy: "aios", KubernetesNames.platformLabel: platformId, KubernetesNames.jobLabel: KubernetesNames.label(job.name)]
    }

    /// A Job for a program run to completion (an init program): one pod, never retried, stopped at its timeout,
    /// its variables from its Secret, its block file mounted read-only, its state directory an `emptyDir`.
    public func job(_ job: JobLaunch, image: String, hasBlockFile: Bool) -> JSONValue {
        let labels = jobLabels(job)
        var container: [String: JSONValue] = [
            "name": "job", "image": .string(image),
            "envFrom": [["secretRef": ["name": .string(jobName(job))]]],
            "volumeMounts": [["name": "state", "mountPath": .string(Self.jobStateDirectory)]],
        ]
        var volumes: [JSONValue] = [["name": "state", "emptyDir": [:]]]
        if hasBlockFile {
            container["volumeMounts"] = [["name": "state", "mountPath": .string(Self.jobStateDirectory)],
                                         ["name": "block", "mountPath": .string(KubernetesNames.blockFileDirectory), "readOnly": true]]
            volumes.append(["name": "block", "secret": ["secretName": .string(jobName(job) + "-files")]])
        }
        let podSpec: JSONValue = [
            "restartPolicy": "Never",
            "automountServiceAccountToken": false,
            "enableServiceLinks": false,
            "terminationGracePeriodSeconds": .number(Double(max(1, KubernetesQuantity.whole(job.grace, limit: 3600)))),
            "containers": [.object(container)],
            "volumes": .array(volumes),
        ]
        return [
            "apiVersion": "batch/v1", "kind": "Job", "metadata": metadata(jobName(job), labels: labels),
            "spec": [
                "backoffLimit": 0,
                "activeDeadlineSeconds": .number(Double(max(1, KubernetesQuantity.whole(job.timeout.rounded(.up))))),
                // The platform deletes it when it ends; this is the backstop for a platform that crashed meanwhile.
                "ttlSecondsAfterFinished": 3600,
                "template": ["metadata": ["labels": .object(labels.mapValues(JSONValue.string))], "spec": podSpec],
            ],
        ]
    }
}
