import AIOSModel
import AIOSRuntime
import Foundation
import Logging

/// A program run to completion as a Kubernetes Job (an init program of a third-party component): the Job is
/// created, its pod's log followed line by line into the job's log and `onLine`, and its ending read from the
/// pod's container. At its timeout, or when the task is cancelled, the Job is deleted with its pod; it is
/// deleted when it ends, too.
struct KubernetesJob {
    let cluster: KubernetesCluster
    let job: JobLaunch
    let image: String
    let logger: Logger

    var name: String { cluster.manifests.jobName(job) }

    func run(onLine: @escaping @Sendable (Substring) async -> Void) async -> ProgramEnding {
        if Task.isCancelled { return .cancelled }
        // One of the same name an earlier run left goes first, with its Secrets.
        await remove(grace: 0)
        let blockFile = job.environment["AIOS_BLOCK_FILE"].flatMap { try? String(contentsOfFile: $0, encoding: .utf8) }
        let environment = PodManifests.jobEnvironment(job, hasBlockFile: blockFile != nil)
        let uid: String
        do {
            try await cluster.createOrReplace("secrets", cluster.manifests.jobSecret(job, environment: environment, blockFile: nil))
            if let blockFile { try await cluster.createOrReplace("secrets", cluster.manifests.jobSecret(job, environment: [:], blockFile: blockFile)) }
            let created = try await cluster.client.create(cluster.path("jobs"), cluster.manifests.job(job, image: image, hasBlockFile: blockFile != nil))
            uid = created["metadata"]?["uid"]?.stringValue ?? ""
        } catch {
            await remove(grace: 0)
            return .notStarted("cannot create Job \(name): \(error)")
        }
        LogTail.append(job.logPath, "aios: Job \(name) created in namespace \(cluster.namespace), image \(image)")
        let deadline = Date().addingTimeInterval(job.timeout)
        let ending = await Deadline.run(seconds: job.timeout) { await follow(uid: uid, onLine: onLine, until: deadline) }
        // Removed in a task of its own: a cancelled run must still remove what it made.
        let grace = KubernetesQuantity.whole(job.grace, limit: 3600)
        await Task { await remove(grace: grace) }.value
        if Task.isCancelled { return .cancelled }
        return ending ?? .timedOut(seconds: job.timeout)
    }

    /// The Job (its pod with it) and its Secrets.
    private func remove(grace: Int) async {
        try? await cluster.client.delete(cluster.path("jobs", name), gracePeriodSeconds: grace, propagation: "Background", timeout: 10)
        for secret in [name, name + "-files"] { try? await cluster.client.delete(cluster.path("secrets", secret), timeout: 10) }
    }

    /// Waits for the Job's pod, follows its log, then reads how its container ended.
    private func follow(uid: String, onLine: @escaping @Sendable (Substring) async -> Void, until deadline: Date) async -> ProgramEnding {
        var podName: String?
        var followed = false
        while !Task.isCancelled, Date() < deadline {
            if podName == nil {
                // This Job's pod (owned by its uid): not a pod of an earlier Job of the same name still going.
                let pods = try? await cluster.client.get(cluster.path("pods"), query: ["labelSelector": "job-name=\(name)"], timeout: 10)
                podName = pods?["items"]?.arrayValue?.first { pod in
                    pod["metadata"]?["ownerReferences"]?.arrayValue?.contains { $0["uid"]?.stringValue == uid } == true
                }?["metadata"]?["name"]?.stringValue
            }
            if let podName {
                let pod = try? await cluster.client.get(cluster.path("pods", podName), timeout: 10)
                let phase = pod?["status"]?["phase"]?.stringValue ?? "Pending"
                if !followed, phase != "Pending" {
                    followed = true
                    await followLog(podName, onLine: onLine, until: deadline)
                    continue
                }
                if phase == "Succeeded" || phase == "Failed" {
                    let terminated = pod?["status"]?["containerStatuses"]?.arrayValue?.first?["state"]?["terminated"]
                    let code = Int32(clamping: terminated?["exitCode"]?.intValue ?? (phase == "Succeeded" ? 0 : 1))
                    if let reason = terminated?["reason"]?.stringValue, phase == "Failed" { LogTail.append(job.logPath, "aios: Job \(name) failed: \(reason)") }
                    return .exited(code)
                }
                if let waiting = pod?["status"]?["containerStatuses"]?.arrayValue?.first?["state"]?["waiting"],
                   let reason = waiting["reason"]?.stringValue, ["ErrImagePull", "ImagePullBackOff", "InvalidImageName", "CreateContainerConfigError"].contains(reason) {
                    return .notStarted("Job \(name): \(reason): \(waiting["message"]?.stringValue ?? "")")
                }
            } else if let status = try? await cluster.client.get(cluster.path("jobs", name), timeout: 10)["status"],
                      (status["failed"]?.intValue ?? 0) > 0 {
                return .notStarted("Job \(name) failed before its pod ran: \(status["conditions"]?.arrayValue?.last?["message"]?.stringValue ?? "no reason given")")
            }
            try? await Task.sleep(for: .seconds(1))
        }
        return Task.isCancelled ? .cancelled : .timedOut(seconds: job.timeout)
    }

    /// The pod's log as it is written, each line into the job's log and to `onLine`.
    private func followLog(_ podName: String, onLine: @escaping @Sendable (Substring) async -> Void, until deadline: Date) async {
        let lines = cluster.client.lines(cluster.path("pods", podName) + "/log", query: ["follow": "true"], timeout: max(1, deadline.timeIntervalSinceNow))
        do {
            for try await line in lines {
                LogTail.append(job.logPath, line)
                await onLine(Substring(line))
            }
        } catch {
            LogTail.append(job.logPath, "aios: the Job's log stream ended: \(error)")
        }
    }
}
