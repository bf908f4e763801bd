import AIOSClient
import AIOSModel
import AIOSRuntime
import Foundation

/// A block as a container against its baseline, in the same run: create → first answer for the Python
/// wordcount block run as a process (the baseline) and as its OCI image from a local registry (podman), each
/// created and removed `rounds` times, alternating. The first container create includes the image pull and is
/// reported apart. Skipped, saying why, when no engine can run containers here.
enum OCIBenchmark {
    static let rounds = 5

    static func run() async throws {
        let repository = StartupBenchmark.repository
        func script(_ path: String, _ arguments: [String] = [], environment: [String: String] = [:]) async throws -> String {
            var command = ["/usr/bin/env"] + environment.map { "\($0.key)=\($0.value)" }
            command += [repository.appendingPathComponent(path).path] + arguments
            let result = await CommandOutput.run(command, timeout: 900)
            guard result.status == 0 else { throw StartupBenchmark.Failure(description: "\(path) failed: \(result.output.suffix(2000))") }
            return result.output
        }
        print("\nOCI benchmark (release aios, Python wordcount block: create → first answer through the gateway; baseline: the same block as a process)")
        guard await CommandOutput.run([repository.appendingPathComponent("scripts/oci/engine-flags.sh").path], timeout: 60).status == 0 else {
            print("  skipped: no OCI engine can run containers here (scripts/oci/engine-flags.sh)")
            return
        }
        let port = 5000 + Int.random(in: 100...900)
        _ = try await script("scripts/oci/base-image.sh")
        _ = try await script("scripts/oci/registry.sh", ["up", "--port", String(port)])
        defer { _ = Task { await CommandOutput.run([repository.appendingPathComponent("scripts/oci/registry.sh").path, "down", "--port", String(port)], timeout: 30) } }
        let image = try await script("examples/python-wordcount/build_and_push_image.sh", environment: ["REGISTRY": "127.0.0.1:\(port)"])
            .split(separator: "\n").last.map(String.init) ?? ""

        let echo = try await EchoPlatform.start(name: "bench-oci")
        defer { echo.stop() }
        let client = echo.client
        let example = repository.appendingPathComponent("examples/python-wordcount")
        func values(_ file: String) throws -> [String: JSONValue] {
            guard let values = JSONValue.decodeJSON(try Data(contentsOf: example.appendingPathComponent(file)))?["body"]?["spec"]?["values"]?.objectValue else {
                throw StartupBenchmark.Failure(description: "\(file) is not a spec")
            }
            return values
        }
        var process = try values("component.json")
        process["runtime"] = ["type": "process", "command": ["python3", "block.py"], "cwd": .string(example.path)]
        var container = try values("component-oci.json")
        container["containerRegistryInfo"] = ["containerImage": .string(image), "containerRegistryId": "bench-local"]
        _ = try await client.post("/api/registries", body: JSONValue.object(["containerRegistryId": "bench-local", "url": .string("http://127.0.0.1:\(port)")]).jsonData()).get()
        _ = try await client.post("/api/addComponent", body: JSONValue.object(process).jsonData()).get()
        _ = try await client.post("/api/addComponent", body: JSONValue.object(container).jsonData()).get()

        let gateway = APIClient(server: echo.platform.url, token: echo.platform.token, timeout: .seconds(10))
        func createToFirstAnswer(_ component: String, _ blockId: String) async throws -> Double {
            let began = ContinuousClock.now
            _ = try await client.post("/api/createBlock", body: JSONValue.object([
                "blockId": .string(blockId), "blockComponentURI": .string("model.\(component):1.0.0-stable"), "minInstances": 1, "maxInstances": 1,
            ]).jsonData()).get()
            let body = try JSONValue.object(["block_id": .string(blockId), "data": ["text": "one two three"]]).jsonData()
            let deadline = Date().addingTimeInterval(120)
            while true {
                if let reply = try? await gateway.post("/v1/infer", body: body).get(), reply["data"]?["words"] == 3 { break }
                guard Date() < deadline else { throw StartupBenchmark.Failure(description: "\(blockId) never answered") }
                try await Task.sleep(for: .milliseconds(20))
            }
            let elapsed = began.duration(to: .now)
            _ = try await client.post("/api/removeBlock", body: JSONValue.object(["blockId": .string(blockId)]).jsonData()).get()
            return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        }
        let firstContainer = try await createToFirstAnswer("wordcount-oci", "oci-first")
        var processTimes: [Double] = [], containerTimes: [Double] = []
        for round in 0..<rounds {
            processTimes.append(try await createToFirstAnswer("wordcount", "proc-\(round)"))
            containerTimes.append(try await createToFirstAnswer("wordcount-oci", "oci-\(round)"))
        }
        let p = StartupBenchmark.median(processTimes), c = StartupBenchmark.median(containerTimes)
        print(String(format: "  create → first answer, median of %d: container %.0f ms, process %.0f ms, ratio %.2fx (+%.0f ms for the container); the first container create, pull included: %.0f ms",
                     rounds, c * 1000, p * 1000, c / p, (c - p) * 1000, firstContainer * 1000))
    }
}
