import AIOSModel
import Foundation
import XCTest

/// SmolLM2 split into three blocks (`examples/llm-split`: layers [0,10), [10,20), [20,30) in numpy) chained as a
/// vDAG; the client runs the decode loop, one controller call per token. Greedy tokens equal the unsplit model's.
final class SplitVDAGTests: XCTestCase {
    func testThreeSplitBlocksChainedAsAVDAGGenerateTheUnsplitModelsTokens() async throws {
        _ = try LlamaServer.requireInstalled()
        let directory = temporaryDirectory("split")
        defer { try? FileManager.default.removeItem(at: directory) }
        let platform = try PlatformProcess(dataDirectory: directory)
        defer { platform.stop() }
        func aios(_ arguments: [String]) throws -> Command.Run {
            let run = try Command.run([PlatformProcess.executable.path] + arguments + ["--server", platform.url], environment: platform.auth, timeout: 60)
            XCTAssertEqual(run.status, 0, "aios \(arguments.joined(separator: " ")): \(run.stdout) \(run.stderr)")
            return run
        }
        _ = try aios(["apply", "-f", "examples/llm-split/component.json"])
        for split in 0..<3 {
            _ = try aios(["apply", "-f", "examples/llm-split/blocks/split-\(split).json"])
        }
        for split in 0..<3 {
            try await platform.waitForPhase("smollm2-split-\(split)", "Ready", timeout: 90)
        }
        _ = try aios(["apply", "-f", "examples/llm-split/vdag.json"])
        _ = try aios(["vdag", "controller", "create", "split-ctl", "--vdag", "smollm2-split:0.0.1-stable"])
        let controllers = try await platform.get("/api/vdag-controllers").body.arrayValue ?? []
        let address = try XCTUnwrap(controllers.first?["grpc_address"]?.stringValue, "\(controllers)")

        let prompt = "What is the capital of France?"
        let chat = try Command.run([Command.python, "examples/llm-split/split_chat.py", address, "--prompt", prompt,
                                    "--max-tokens", "12", "--session", "split-1"], environment: platform.auth, timeout: 120)
        let reply = try XCTUnwrap(chat.jsonLines.first, chat.stdout + chat.stderr)
        XCTAssertEqual(reply["ok"] as? Bool, true, "\(reply)")
        let reference = try Command.run([Command.python, "examples/llm-split/llama_numpy.py", prompt, "--max-tokens", "12"],
                                        environment: ["OPENBLAS_NUM_THREADS": "1"], timeout: 120)
        XCTAssertEqual(reference.status, 0, reference.stderr)
        let expected = reference.stdout.components(separatedBy: "\n# load").first?.trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertEqual((reply["text"] as? String)?.trimmingCharacters(in: .whitespacesAndNewlines), expected,
                       "greedy tokens through the three splits equal the unsplit model's: \(reply)")
        XCTAssertGreaterThan((reply["tokens"] as? [Any])?.count ?? 0, 0, "\(reply)")
    }
}
