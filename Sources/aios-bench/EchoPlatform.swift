import AIOSClient
import AIOSModel
import Foundation

/// A release `aios up` on a temporary data directory with the release Swift echo registered as component
/// `tool.NAME:1-b`: what the gateway and scale-up benchmarks run against.
struct EchoPlatform {
    let platform: StartupBenchmark.Platform
    let client: APIClient
    let componentURI: String
    private let data: URL

    static func start(name: String, arguments: [String] = []) async throws -> EchoPlatform {
        let release = StartupBenchmark.repository.appendingPathComponent(".build/release")
        let data = FileManager.default.temporaryDirectory.appendingPathComponent("aios-bench-\(name)-\(UUID().uuidString.prefix(8))")
        let platform = try StartupBenchmark.Platform.start(binary: release.appendingPathComponent("aios").path, data: data,
                                                            venv: StartupBenchmark.repository.appendingPathComponent(".venv").path, arguments: arguments)
        let client = platform.client
        let component: JSONValue = [
            "componentId": ["name": .string(name), "version": "1", "releaseTag": "b"], "componentType": "tool",
            "runtime": ["type": "process", "command": [.string(release.appendingPathComponent("aios-echo").path)], "cwd": "/"],
        ]
        do {
            _ = try await client.post("/api/addComponent", body: component.jsonData()).get()
        } catch {
            platform.stop()
            throw error
        }
        return EchoPlatform(platform: platform, client: client, componentURI: "tool.\(name):1-b", data: data)
    }

    func stop() {
        platform.stop()
        try? FileManager.default.removeItem(at: data)
    }
}
