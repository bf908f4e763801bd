import AIOSClient
import AIOSModel
import Foundation

/// A block linked to a third-party server against its baseline, in the same run with the same prompts: chat
/// through the gateway (`POST /v1/chat/completions` → the `vllm-chat` block's instance → llama.cpp's
/// server with SmolLM2-135M-Instruct) versus the same request sent to the llama.cpp server directly. Greedy
/// decoding, and each timed call follows the same prompt (llama.cpp reuses the previous prompt's KV cache), so
/// both paths find the server in the same state and the difference is the block's overhead.
enum ThirdPartyChatBenchmark {
    static let prompts = [
        "What is the capital of France?", "Name three primary colors.", "Write a haiku about the sea.",
        "What is 12 times 12?", "Give me a synonym for happy.", "Who wrote Romeo and Juliet?",
        "Describe a cat in one sentence.", "What does a GPU do?",
    ]
    static let rounds = 3
    static let maxTokens = 16

    static func run() async throws {
        let repository = StartupBenchmark.repository
        let python = repository.appendingPathComponent(".venv/bin/python").path
        let server = try LlamaServerProcess.start(python: python, script: repository.appendingPathComponent("examples/llm-init/llama_server.py").path)
        defer { server.stop() }
        let echo = try await EchoPlatform.start(name: "bench-chat")
        defer { echo.stop() }
        let client = echo.client

        guard case .object(var component)? = JSONValue.decodeJSON(try Data(contentsOf: repository.appendingPathComponent("examples/vllm-chat/component.json"))),
              var values = component["body"]?["spec"]?["values"]?.objectValue else {
            throw StartupBenchmark.Failure(description: "examples/vllm-chat/component.json is not a component spec")
        }
        values["runtime"] = ["type": "process", "command": ["python3", "block.py"], "cwd": .string(repository.appendingPathComponent("examples/vllm-chat").path)]
        component = ["body": ["spec": ["values": .object(values)]]]
        _ = try await client.post("/api/addComponent", body: JSONValue.object(component).jsonData()).get()
        _ = try await client.post("/api/createBlock", body: JSONValue.object([
            "blockId": "bench-chat", "blockComponentURI": "model.vllm-chat:1.0.0-stable", "minInstances": 1, "maxInstances": 1,
            "blockInitData": ["vllm_server_url": .string(server.url), "model_name": "SmolLM2-135M-Instruct"],
            "parameters": ["temperature": 0, "max_new_tokens": .number(Double(maxTokens))],
        ]).jsonData()).get()
        let ready = Date().addingTimeInterval(60)
        while try await client.get("/api/blocks/bench-chat").get()["phase"]?.stringValue != "Ready" {
            guard Date() < ready else { throw StartupBenchmark.Failure(description: "the chat block did not become ready") }
            try await Task.sleep(for: .milliseconds(100))
        }

        let direct = APIClient(server: server.url, timeout: .seconds(120))
        let gateway = APIClient(server: echo.platform.url, token: echo.platform.token, timeout: .seconds(120))
        func body(_ model: String, _ prompt: String) throws -> Data {
            try JSONValue.object([
                "model": .string(model), "messages": [["role": "user", "content": .string(prompt)]],
                "temperature": 0, "max_tokens": .number(Double(maxTokens)),
            ]).jsonData()
        }
        func timed(_ call: () async throws -> JSONValue) async throws -> (Double, String) {
            let began = ContinuousClock.now
            let reply = try await call()
            let elapsed = began.duration(to: .now)
            let text = reply["choices"]?.arrayValue?.first?["message"]?["content"]?.stringValue ?? ""
            return (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18, text)
        }

        print("\nthird-party chat benchmark (release aios, vllm-chat block → llama.cpp server, SmolLM2-135M-Instruct, greedy, \(maxTokens) tokens; baseline: the llama.cpp server called directly)")
        // Warm both paths (the model's first prompt, the block's first connection).
        _ = try await direct.post("/v1/chat/completions", body: body("SmolLM2-135M-Instruct", "Hello")).get()
        _ = try await gateway.post("/v1/chat/completions", body: body("bench-chat", "Hello")).get()
        var directTimes: [Double] = [], gatewayTimes: [Double] = []
        var same = 0, total = 0
        for _ in 0..<rounds {
            for prompt in prompts {
                // llama.cpp reuses the KV cache of the previous prompt: each timed call follows the same prompt,
                // so both paths find the server in the same state; alternating, so drift affects both alike.
                _ = try await direct.post("/v1/chat/completions", body: body("SmolLM2-135M-Instruct", prompt)).get()
                let (d, directText) = try await timed { try await direct.post("/v1/chat/completions", body: body("SmolLM2-135M-Instruct", prompt)).get() }
                let (g, gatewayText) = try await timed { try await gateway.post("/v1/chat/completions", body: body("bench-chat", prompt)).get() }
                directTimes.append(d)
                gatewayTimes.append(g)
                total += 1
                if directText == gatewayText { same += 1 }
            }
        }
        let directP50 = StartupBenchmark.median(directTimes), gatewayP50 = StartupBenchmark.median(gatewayTimes)
        let overheads = zip(gatewayTimes, directTimes).map { $0 - $1 }
        print(String(format: "  latency p50: through the block %.1f ms, direct %.1f ms, ratio %.3fx; median overhead per request %.1f ms (%d requests each)",
                     gatewayP50 * 1000, directP50 * 1000, gatewayP50 / directP50, StartupBenchmark.median(overheads) * 1000, total))
        print("  same greedy answer both ways: \(same) of \(total)")
    }
}

/// `examples/llm-init/llama_server.py run` as a child process: llama.cpp's server on a free loopback port.
struct LlamaServerProcess {
    let process: Process
    let url: String

    static func start(python: String, script: String) throws -> LlamaServerProcess {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [script, "run", "--host", "127.0.0.1", "--port", "0"]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        var text = ""
        let deadline = Date().addingTimeInterval(120)
        while Date() < deadline, !text.contains("LLAMA_SERVER_URL ") || !text.hasSuffix("\n") {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            text += String(decoding: chunk, as: UTF8.self)
        }
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("LLAMA_SERVER_URL ") }) else {
            process.terminate()
            throw StartupBenchmark.Failure(description: "the llama.cpp server did not start (is llama-cpp-python installed in .venv? make venv does it): \(text)")
        }
        return LlamaServerProcess(process: process, url: String(line.dropFirst("LLAMA_SERVER_URL ".count)).trimmingCharacters(in: .whitespaces))
    }

    func stop() {
        process.terminate()
        process.waitUntilExit()
    }
}
