import AIOSClient
import AIOSModel
import Foundation

/// A split model against its baseline, in the same run with the same prompts: SmolLM2-135M-Instruct split
/// three ways by the built-in splitter and deployed as three blocks chained as a vDAG, versus the same model as
/// one split holding all 30 layers (the unsplit run, deployed the same way). Both generate greedily through
/// `POST /v1/chat/completions` with the controller as `model`; calls alternate so drift affects both alike.
/// Tokens per second is the ratio that matters (goal: ≥ 0.85x); the per-hop overhead is the extra time per
/// token divided by the two hops the 3-way chain adds.
enum SplitBenchmark {
    static let prompts = [
        "Write a short story about a robot who learns to paint.", "Explain how a rainbow forms.",
        "Give me three tips for learning Python.", "Describe the ocean to someone who has never seen it.",
    ]
    static let rounds = 2
    static let maxTokens = 32

    static func run() async throws {
        let repository = StartupBenchmark.repository
        let model = try modelPath(repository)
        // The platform reads models only from its model directories.
        let echo = try await EchoPlatform.start(name: "bench-split", arguments: ["--model-dir", URL(fileURLWithPath: model).deletingLastPathComponent().path])
        defer { echo.stop() }
        let client = echo.client
        let runner = repository.appendingPathComponent("examples/llm-split")
        guard case .object(var component)? = JSONValue.decodeJSON(try Data(contentsOf: runner.appendingPathComponent("component.json"))),
              var values = component["body"]?["spec"]?["values"]?.objectValue, var runtime = values["runtime"]?.objectValue else {
            throw StartupBenchmark.Failure(description: "examples/llm-split/component.json is not a component spec")
        }
        runtime["cwd"] = .string(runner.path)
        values["runtime"] = .object(runtime)
        component = ["body": ["spec": ["values": .object(values)]]]
        _ = try await client.post("/api/addComponent", body: JSONValue.object(component).jsonData()).get()

        let slow = APIClient(server: echo.platform.url, token: echo.platform.token, timeout: .seconds(600))
        var controllers: [Int: String] = [:]
        for splits in [1, 3] {
            let created = try await client.post("/api/splits", body: JSONValue.object(["model": .string(model), "splits": .number(Double(splits))]).jsonData()).get()
            guard let taskId = created["task_id"]?.stringValue else { throw StartupBenchmark.Failure(description: "no task id: \(created.jsonString())") }
            let ends = Date().addingTimeInterval(300)
            while true {
                let task = try await client.get("/api/splits/\(taskId)").get()
                if task["status"]?.stringValue == "complete" { break }
                guard task["status"]?.stringValue != "failed", Date() < ends else {
                    throw StartupBenchmark.Failure(description: "split task \(taskId) did not complete: \(task["error"]?.stringValue ?? "timeout")")
                }
                try await Task.sleep(for: .milliseconds(250))
            }
            let deployed = try await slow.post("/api/splits/\(taskId)/deploy", body: JSONValue.object(["controllerId": .string("bench-\(splits)")]).jsonData()).get()
            controllers[splits] = deployed["controllerId"]?.stringValue
        }

        func generate(_ controller: String, _ prompt: String) async throws -> (seconds: Double, tokens: Int, text: String) {
            let body = try JSONValue.object([
                "model": .string(controller), "messages": [["role": "user", "content": .string(prompt)]],
                "temperature": 0, "max_tokens": .number(Double(maxTokens)),
            ]).jsonData()
            let began = ContinuousClock.now
            let reply = try await slow.post("/v1/chat/completions", body: body).get()
            let elapsed = began.duration(to: .now)
            return (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18,
                    reply["usage"]?["completion_tokens"]?.intValue ?? 0,
                    reply["choices"]?.arrayValue?.first?["message"]?["content"]?.stringValue ?? "")
        }

        print("\nsplit benchmark (release aios, SmolLM2-135M-Instruct in numpy, greedy, up to \(maxTokens) tokens per request; baseline: the same model unsplit, one block holding all 30 layers, deployed the same way)")
        guard let unsplit = controllers[1], let split = controllers[3] else { throw StartupBenchmark.Failure(description: "a deploy returned no controller") }
        _ = try await generate(unsplit, "Hello")
        _ = try await generate(split, "Hello")
        var whole = (seconds: 0.0, tokens: 0), chained = (seconds: 0.0, tokens: 0)
        var same = 0, total = 0
        for _ in 0..<rounds {
            for prompt in prompts {
                let a = try await generate(unsplit, prompt)
                let b = try await generate(split, prompt)
                whole.seconds += a.seconds
                whole.tokens += a.tokens
                chained.seconds += b.seconds
                chained.tokens += b.tokens
                total += 1
                if a.text == b.text { same += 1 }
            }
        }
        let wholeRate = Double(whole.tokens) / whole.seconds, chainedRate = Double(chained.tokens) / chained.seconds
        let perHop = (chained.seconds / Double(chained.tokens) - whole.seconds / Double(whole.tokens)) / 2
        print(String(format: "  tokens/s: 3-way split %.2f, unsplit %.2f, ratio %.3fx (goal >= 0.85x); per-hop overhead %.2f ms per token (%d requests, %d and %d tokens)",
                     chainedRate, wholeRate, chainedRate / wholeRate, perHop * 1000, total, chained.tokens, whole.tokens))
        print("  same greedy answer both ways: \(same) of \(total)")
    }

    static func modelPath(_ repository: URL) throws -> String {
        let process = Process()
        process.executableURL = repository.appendingPathComponent(".venv/bin/python")
        process.arguments = [repository.appendingPathComponent("examples/llm-init/llama_server.py").path, "model-path"]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw StartupBenchmark.Failure(description: "llama_server.py model-path failed") }
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
