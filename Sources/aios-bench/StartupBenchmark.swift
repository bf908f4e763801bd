import AIOSClient
import AIOSModel
import AIOSRuntime
import AIOSWire
import Foundation

/// Block create → first successful `Infer`, for the Swift echo block and the Python wordcount block, through
/// a release `aios up`. The baseline is the same instance program started directly (same environment
/// contract, no platform) until its first successful `Infer`: what the platform adds is the difference.
enum StartupBenchmark {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    static let repository = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)

    static func run() async throws {
        let release = repository.appendingPathComponent(".build/release")
        let venv = repository.appendingPathComponent(".venv")
        guard FileManager.default.isExecutableFile(atPath: release.appendingPathComponent("aios").path),
              FileManager.default.isExecutableFile(atPath: release.appendingPathComponent("aios-echo").path) else {
            throw Failure(description: "build .build/release/aios and aios-echo first (make bench does)")
        }
        let data = FileManager.default.temporaryDirectory.appendingPathComponent("aios-bench-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: data) }
        let platform = try Platform.start(binary: release.appendingPathComponent("aios").path, data: data, venv: venv.path)
        defer { platform.stop() }
        let client = platform.client

        let echo = Case(name: "Swift echo", goal: 1.0, command: [release.appendingPathComponent("aios-echo").path], cwd: "/",
                        input: ["text": "hello"])
        let python = Case(name: "Python wordcount", goal: 3.0, command: ["python3", "block.py"],
                          cwd: repository.appendingPathComponent("examples/python-wordcount").path, input: ["text": "one two two"])
        print("\nstartup benchmark (release aios; block create → first successful Infer; 5 runs each, median)")
        for (index, benchCase) in [echo, python].enumerated() {
            let uri = "tool.bench-\(index):1-b"
            let component: JSONValue = [
                "componentId": ["name": .string("bench-\(index)"), "version": "1", "releaseTag": "b"], "componentType": "tool",
                "runtime": ["type": "process", "command": .array(benchCase.command.map(JSONValue.string)), "cwd": .string(benchCase.cwd)],
            ]
            _ = try await client.post("/api/addComponent", body: component.jsonData()).get()
            var platformTimes: [Double] = []
            var directTimes: [Double] = []
            for run in 0..<5 {
                let blockId = "bench-\(index)-\(run)"
                let start = Date()
                _ = try await client.post("/api/createBlock", body: JSONValue.object([
                    "blockId": .string(blockId), "blockComponentURI": .string(uri), "minInstances": 1, "maxInstances": 1,
                ]).jsonData()).get()
                try await firstInfer(timeout: 30, input: benchCase.input) {
                    try await client.get("/api/blocks/\(blockId)").get()["instances"]?.arrayValue?.first?["address"]?.stringValue
                }
                platformTimes.append(Date().timeIntervalSince(start))
                _ = try await client.post("/api/removeBlock", body: JSONValue.object(["blockId": .string(blockId)]).jsonData()).get()
                directTimes.append(try await direct(benchCase, data: data, venv: venv.path))
            }
            let platformMedian = median(platformTimes), directMedian = median(directTimes)
            print(String(format: "  %@: create → first Infer %.3f s (goal ≤ %.0f s); the program alone %.3f s; ratio %.2fx",
                         benchCase.name, platformMedian, benchCase.goal, directMedian, platformMedian / max(directMedian, 1e-6)))
        }
    }

    struct Case {
        var name: String
        var goal: Double
        var command: [String]
        var cwd: String
        var input: JSONValue
    }

    /// Polls for the instance address, then calls `Infer` until it succeeds.
    static func firstInfer(timeout: Double, input: JSONValue, address: () async throws -> String?) async throws {
        let deadline = Date().addingTimeInterval(timeout)
        var request = Aios_Instance_V1_InferRequest()
        request.packet.sessionID = "bench"
        request.packet.data = input.jsonString()
        let call = request
        while Date() < deadline {
            if let address = try await address() {
                let answered = try? await InstanceClient.with(address: address) { client in
                    try await client.infer(call, options: InstanceClient.options(timeout: .seconds(2)))
                }
                if answered?.outputs.isEmpty == false { return }
            }
            try await Task.sleep(for: .milliseconds(5))
        }
        throw Failure(description: "no successful Infer within \(timeout) s")
    }

    /// The baseline: the instance program started by hand with the runtime's environment contract.
    static func direct(_ benchCase: Case, data: URL, venv: String) async throws -> Double {
        let blockFile = data.appendingPathComponent("direct-block.json")
        try JSONValue.object(["blockId": "direct", "instanceId": "direct", "allocation": ["clusterId": "local", "nodeId": "local", "gpus": []]])
            .jsonData().write(to: blockFile)
        let port = try FreePort.find()
        var environment = ProcessInfo.processInfo.environment
        environment["PATH"] = "\(venv)/bin:" + (environment["PATH"] ?? "/usr/bin:/bin")
        environment.merge(["AIOS_BLOCK_ID": "direct", "AIOS_INSTANCE_ID": "direct", "AIOS_BLOCK_FILE": blockFile.path,
                           "AIOS_LISTEN": "127.0.0.1:\(port)", "PYTHONUNBUFFERED": "1"]) { _, new in new }
        let start = Date()
        let spawned = try ProcessSpawner.spawn(benchCase.command, cwd: benchCase.cwd, environment: environment,
                                               logPath: data.appendingPathComponent("direct.log").path)
        let process = ChildProcess(pid: spawned.pid, startTime: spawned.startTime)
        defer {
            process.signalGroup(SIGKILL)
        }
        try await firstInfer(timeout: 30, input: benchCase.input) { "127.0.0.1:\(port)" }
        let elapsed = Date().timeIntervalSince(start)
        process.signalGroup(SIGKILL)
        _ = await process.waitForExit()
        return elapsed
    }

    static func median(_ values: [Double]) -> Double {
        values.sorted()[values.count / 2]
    }

    /// A release `aios up` on a free port.
    final class Platform {
        let process: Process
        let url: String
        /// The gRPC gateway's `host:port`.
        let grpcAddress: String
        /// The admin token `aios up` wrote into its data directory.
        let token: String

        init(process: Process, url: String, grpcAddress: String, token: String) {
            self.process = process
            self.url = url
            self.grpcAddress = grpcAddress
            self.token = token
        }

        var client: APIClient { APIClient(server: url, token: token) }

        /// `arguments` are added to `aios up`'s (e.g. `--model-dir`).
        static func start(binary: String, data: URL, venv: String, arguments: [String] = []) throws -> Platform {
            try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
            let process = Process()
            process.executableURL = URL(fileURLWithPath: binary)
            process.arguments = ["up", "--data-dir", data.path, "--http-port", "0", "--grpc-port", "0", "--python-venv", venv, "--log-level", "warning"]
                + arguments
            let output = Pipe()
            process.standardOutput = output
            process.standardError = FileHandle.nullDevice
            try process.run()
            var text = ""
            let deadline = Date().addingTimeInterval(30)
            while Date() < deadline, !text.split(separator: "\n").contains(where: { $0.hasPrefix("aios ready: ") }) {
                let chunk = output.fileHandleForReading.availableData
                if chunk.isEmpty { break }
                text += String(decoding: chunk, as: UTF8.self)
            }
            guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("aios ready: ") }) else {
                process.terminate()
                throw Failure(description: "aios up did not start: \(text)")
            }
            let gateway = text.split(separator: "\n").first { $0.hasPrefix("aios gateway: grpc://") }
            let token = (try? String(contentsOf: data.appendingPathComponent("tokens/admin.token"), encoding: .utf8))?
                .trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
            return Platform(process: process, url: String(line.dropFirst("aios ready: ".count)),
                            grpcAddress: gateway.map { String($0.dropFirst("aios gateway: grpc://".count)) } ?? "", token: token)
        }

        func stop() {
            process.terminate()
            process.waitUntilExit()
        }
    }
}
