import AIOSModel
@testable import AIOSPolicy
import Foundation
import Logging
import XCTest

/// Real workers of real archives (bubblewrap where it runs here, else rlimits only): the merge rule, each way
/// a call can fail, restarts, `Degraded`, and stopping an owner's workers.
final class CustomPoliciesWorkerTests: XCTestCase {
    static var repository: URL { URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent() }

    var directory: URL!
    var policies: CustomPolicies!
    var host: PolicyHost!

    /// A policy steered by its input: `{"do": "echo" | "sleep" | "exit" | "raise"}`.
    static let steered = """
        import os, time
        PROCESS = os.urandom(8).hex()
        class AIOSv1PolicyRule:
            def __init__(self, rule_id, settings, parameters):
                self.rule_id, self.settings, self.parameters = rule_id, settings, parameters
            def eval(self, parameters, input_data, context):
                what = input_data.get("do")
                if what == "sleep":
                    time.sleep(30)
                if what == "exit":
                    os._exit(1)
                if what == "raise":
                    raise ValueError("asked to fail")
                return {"rule_id": self.rule_id, "settings": self.settings, "parameters": parameters, "pid": os.getpid(), "process": PROCESS}
        """

    override func setUp() async throws {
        let python = Self.repository.appendingPathComponent(".venv/bin/python").path
        guard FileManager.default.isExecutableFile(atPath: python) else { throw XCTSkip("needs the repository's .venv (make venv)") }
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("aios-policy-\(UUID().uuidString.prefix(8))")
        var deadlines = PolicyDeadlines()
        deadlines.other = .seconds(1)
        var logger = Logger(label: "test")
        logger.logLevel = .warning
        for sandbox in [PolicySandboxMode.bwrap, .rlimitsOnly] {
            policies = CustomPolicies(configuration: .init(python: python, sandbox: sandbox, directory: directory), deadlines: deadlines, logger: logger)
            if case .success(let prepared) = await policies.host() {
                host = prepared
                break
            }
        }
        guard host != nil else { return XCTFail("custom policies cannot run here at all") }
    }

    override func tearDown() async throws {
        await policies?.shutdown()
        try? FileManager.default.removeItem(at: directory)
    }

    func register(_ uri: String, kind: PolicyKind, source: String, settings: [String: JSONValue] = [:], parameters: [String: JSONValue] = [:]) async throws {
        let archive = try await PolicyArchives(host: host).store(try Self.tarGz(["code/function.py": source]), field: FieldPath(dotted: "code"))
        let definition = PolicyDefinition(uri: uri, kind: kind, name: uri, version: "1", releaseTag: nil, settings: settings, parameters: parameters, extras: [:])
        await policies.register(.init(definition: definition, archive: archive))
    }

    func rule(_ uri: String, kind: PolicyKind = .autoscaler, parameters: [String: JSONValue] = [:], settings: [String: JSONValue] = [:]) -> PolicyRule {
        PolicyRule(kind: kind, uri: uri, parameters: parameters, settings: settings, location: .root)
    }

    func decided(_ outcome: CustomPolicies.Outcome, file: StaticString = #filePath, line: UInt = #line) -> JSONValue {
        guard case .decided(let result) = outcome else {
            XCTFail("not decided: \(outcome)", file: file, line: line)
            return .null
        }
        return result
    }

    func failure(_ outcome: CustomPolicies.Outcome, file: StaticString = #filePath, line: UInt = #line) -> PolicyFailure? {
        guard case .failed(let failure) = outcome else {
            XCTFail("did not fail: \(outcome)", file: file, line: line)
            return nil
        }
        return failure
    }

    func testBlockValuesWinOverStoredDefaults() async throws {
        try await register("p:1", kind: .autoscaler, source: Self.steered, settings: ["a": 1, "b": 1], parameters: ["x": 1, "y": ["deep": 1]])
        let result = decided(await policies.evaluate(rule("p:1", parameters: ["y": ["other": 2]], settings: ["b": 2]), owner: "blk", input: ["do": "echo"]))
        XCTAssertEqual(result["settings"], ["a": 1, "b": 2])
        XCTAssertEqual(result["parameters"], ["x": 1, "y": ["other": 2]], "shallow: the block's object replaces the stored one whole")
        XCTAssertEqual(result["rule_id"], "p:1")
        // A URI nobody registered is the built-in's.
        guard case .builtIn = await policies.evaluate(rule("nobody:1"), owner: "blk", input: [:]) else { return XCTFail("not the built-in") }
    }

    func testFailuresRestartTheWorkerAndRepeatedOnesDegradeThePolicy() async throws {
        try await register("p:1", kind: .autoscaler, source: Self.steered)
        let first = decided(await policies.evaluate(rule("p:1"), owner: "blk", input: ["do": "echo"]))["process"]

        let raised = failure(await policies.evaluate(rule("p:1"), owner: "blk", input: ["do": "raise"]))
        XCTAssertEqual(raised?.reason, .error)
        XCTAssertTrue(raised?.message.contains("ValueError: asked to fail") == true, "\(String(describing: raised))")
        let same = decided(await policies.evaluate(rule("p:1"), owner: "blk", input: ["do": "echo"]))["process"]
        XCTAssertEqual(same, first, "an exception leaves the worker alive")

        let began = ContinuousClock.now
        let late = failure(await policies.evaluate(rule("p:1"), owner: "blk", input: ["do": "sleep"]))
        XCTAssertEqual(late?.reason, .deadline)
        XCTAssertLessThan(began.duration(to: .now), .seconds(20), "the deadline (1 s here) ends the call long before the policy's 30 s sleep")
        let restarted = decided(await policies.evaluate(rule("p:1"), owner: "blk", input: ["do": "echo"]))["process"]
        XCTAssertNotEqual(restarted, first, "a missed deadline kills the worker; the next call starts another")

        let died = failure(await policies.evaluate(rule("p:1"), owner: "blk", input: ["do": "exit"]))
        XCTAssertEqual(died?.reason, .died)
        let again = decided(await policies.evaluate(rule("p:1"), owner: "blk", input: ["do": "echo"]))["pid"]
        XCTAssertNotNil(again)
        var status = await policies.status(uri: "p:1")
        XCTAssertEqual(status.state, .ready)

        for _ in 0..<PolicyWorker.degradedAfter {
            let raisedAgain = failure(await policies.evaluate(rule("p:1"), owner: "blk", input: ["do": "raise"]))
            XCTAssertEqual(raisedAgain?.reason, .error)
        }
        status = await policies.status(uri: "p:1")
        XCTAssertEqual(status.state, .degraded)
        XCTAssertTrue(status.lastError?.contains("asked to fail") == true, "\(String(describing: status.lastError))")
        _ = decided(await policies.evaluate(rule("p:1"), owner: "blk", input: ["do": "echo"]))
        status = await policies.status(uri: "p:1")
        XCTAssertEqual(status.state, .ready, "a success clears Degraded")
    }

    func testAPolicyThatCannotStartFailsAsStart() async throws {
        try await register("broken:1", kind: .autoscaler, source: "raise RuntimeError('import time failure')\nclass AIOSv1PolicyRule:\n    pass\n")
        let failed = failure(await policies.evaluate(rule("broken:1"), owner: "blk", input: [:]))
        XCTAssertEqual(failed?.reason, .start)
        XCTAssertTrue(failed?.message.contains("import time failure") == true, "\(String(describing: failed))")
    }

    func testReleasingAnOwnerStopsItsWorkers() async throws {
        try await register("p:1", kind: .autoscaler, source: Self.steered)
        let mine = decided(await policies.evaluate(rule("p:1"), owner: "gone", input: ["do": "echo"]))["pid"]?.intValue ?? 0
        let other = decided(await policies.evaluate(rule("p:1"), owner: "stays", input: ["do": "echo"]))["process"]
        let before = await policies.status(uri: "p:1").workers
        XCTAssertEqual(before, 2)
        await policies.release(owner: "gone")
        let after = await policies.status(uri: "p:1").workers
        XCTAssertEqual(after, 1)
        let stays = decided(await policies.evaluate(rule("p:1"), owner: "stays", input: ["do": "echo"]))["process"]
        XCTAssertEqual(stays, other)
        // In rlimits-only mode the pid is the host's; under bubblewrap it is the sandbox's own (its PID namespace).
        if host.configuration.sandbox == .rlimitsOnly { XCTAssertNotEqual(kill(pid_t(mine), 0), 0, "the worker process is gone") }
    }

    static func tarGz(_ files: [String: String]) throws -> Data {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("aios-arc-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: root) }
        for (name, text) in files {
            let url = root.appendingPathComponent("tree/\(name)")
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(text.utf8).write(to: url)
        }
        let tar = Process()
        tar.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        tar.arguments = ["tar", "-czf", root.appendingPathComponent("p.tgz").path, "-C", root.appendingPathComponent("tree").path] + files.keys.sorted()
        try tar.run()
        tar.waitUntilExit()
        return try Data(contentsOf: root.appendingPathComponent("p.tgz"))
    }
}
