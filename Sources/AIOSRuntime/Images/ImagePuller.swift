import AIOSModel
import Foundation

/// Pulls a block's image with its registry's credentials before its instances start, the engine's progress
/// reported as block events as it comes.
public struct ImagePuller: Sendable {
    public let engine: OCIEngine
    public let registries: ContainerRegistries?
    /// Where pulls' short-lived auth files are written (and removed after each pull).
    public let scratch: URL
    /// How long a pull may take.
    public let timeout: Double

    public init(engine: OCIEngine, registries: ContainerRegistries?, scratch: URL, timeout: Double) {
        self.engine = engine
        self.registries = registries
        self.scratch = scratch
        self.timeout = timeout
    }

    /// How a pull ended: the reference to run, or why there is none.
    public enum Outcome: Sendable {
        case pulled(reference: String)
        case failed(reason: String)
        case cancelled
    }

    /// Pulls `image`, its output appended to `logPath`; `report` gets each progress event (and the outcome's).
    public func pull(_ image: OCIImageSpec, logPath: String, report: @escaping @Sendable (BlockEvent) async -> Void) async -> Outcome {
        let access: (reference: String, authFile: URL?, tlsVerify: Bool?, registryId: String?)
        do {
            guard let registries else { throw SecretBoxError("no registry service") }
            access = try await registries.access(for: image, scratch: scratch)
        } catch {
            return .failed(reason: "cannot pull \(image.image): \(error)")
        }
        defer { if let file = access.authFile { try? FileManager.default.removeItem(at: file) } }
        let from = access.registryId.map { " from registry \($0)" } ?? ""
        await report(BlockEvent(type: .imagePull, message: "pulling \(access.reference)\(from) with \(engine.kind.rawValue)"))
        try? FileManager.default.createDirectory(at: URL(fileURLWithPath: logPath).deletingLastPathComponent(), withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: logPath, contents: nil)
        let ending = await engine.pull(image: access.reference, authFile: access.authFile?.path, tlsVerify: access.tlsVerify,
                                       logPath: logPath, timeout: timeout) { line in
            // The engine's progress: one event per blob and for the manifest.
            guard line.hasPrefix("Copying ") || line.hasPrefix("Writing manifest") || line.hasPrefix("Trying to pull") else { return }
            await report(BlockEvent(type: .imagePullProgress, message: String(line.prefix(200))))
        }
        if Task.isCancelled { return .cancelled }
        guard ending == .exited(0) else {
            // The engine's final error says it all; its retries before it repeat it.
            let tail = LogTail.read(logPath, lines: 6).filter { !$0.hasPrefix("Copying ") }
            let output = tail.last { $0.hasPrefix("Error:") || $0.hasPrefix("Error response") } ?? tail.joined(separator: " | ")
            if await engine.hasImage(access.reference) {
                // The registry is out of reach (or refuses) but the image is here: run it, and say so.
                await report(BlockEvent(type: .imagePullFailed, message: "cannot pull \(access.reference)\(from) (\(output)); running the local copy"))
                return .pulled(reference: access.reference)
            }
            var reason = "cannot pull \(access.reference)\(from): " + (output.isEmpty ? "\(ending)" : output)
            let lowered = output.lowercased()
            if lowered.contains("unauthorized") || lowered.contains("authentication required") || lowered.contains("invalid username/password") {
                reason += " (the registry refused the credentials" + (access.registryId.map { " of \($0): update them with POST /api/registries" } ?? ": register it with POST /api/registries") + ")"
            }
            return .failed(reason: reason)
        }
        await report(BlockEvent(type: .imagePulled, message: "\(access.reference) pulled"))
        return .pulled(reference: access.reference)
    }
}
