import AIOSClient
import AIOSModel
import AIOSWire
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2

/// A vDAG controller against its baseline, in the same run on the same three Swift echo blocks: one call to a
/// 3-node chain's `vDAGInferenceService/infer` versus the three gateway calls (`BlockInferenceService/infer`)
/// a client would make in sequence, each feeding the previous output on. The difference over three is the
/// controller's overhead per hop.
enum VDAGBenchmark {
    static let calls = 1500

    static func run() async throws {
        let echo = try await EchoPlatform.start(name: "bench-vdag")
        defer { echo.stop() }
        let client = echo.client
        let blocks = ["hop-a", "hop-b", "hop-c"]
        for block in blocks {
            _ = try await client.post("/api/createBlock", body: JSONValue.object([
                "blockId": .string(block), "blockComponentURI": .string(echo.componentURI), "minInstances": 1, "maxInstances": 1,
            ]).jsonData()).get()
        }
        let ready = Date().addingTimeInterval(30)
        for block in blocks {
            while try await client.get("/api/blocks/\(block)").get()["phase"]?.stringValue != "Ready" {
                guard Date() < ready else { throw StartupBenchmark.Failure(description: "block \(block) did not become ready") }
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        let vdag: JSONValue = [
            "vdagName": "bench-chain", "vdagVersion": ["version": "1", "release-tag": "b"],
            "nodes": .array(blocks.map { ["spec": ["values": ["nodeLabel": .string($0), "manualBlockId": .string($0)]]] }),
            "graph": ["connections": [
                ["nodeLabel": "hop-b", "inputs": [["nodeLabel": "hop-a"]]],
                ["nodeLabel": "hop-c", "inputs": [["nodeLabel": "hop-b"]]],
            ]],
        ]
        _ = try await client.post("/api/createvDAG", body: vdag.jsonData()).get()
        let created = try await client.post("/vdag-controller/local", body: JSONValue.object([
            "action": "create_controller", "payload": ["vdag_controller_id": "bench-ctl", "vdag_uri": "bench-chain:1-b"],
        ]).jsonData()).get()
        guard let controllerAddress = created["data"]?["grpc_address"]?.stringValue else {
            throw StartupBenchmark.Failure(description: "no controller address in \(created.jsonString())")
        }
        let input = JSONValue.object(["text": "hello vdag"]).jsonString()
        var options = CallOptions.defaults
        options.timeout = .seconds(10)
        let callOptions = options

        print("\nvDAG benchmark (release aios, 3-node chain of Swift echo blocks; baseline: 3 gateway calls in sequence, each passing the last output on)")
        let direct = try await GatewayBenchmark.connect(echo.platform.grpcAddress, token: echo.platform.token) { grpc in
            let gateway = BlockInferenceService.Client(wrapping: grpc)
            return try await samples {
                var data = input
                for block in blocks {
                    var packet = BlockInferencePacket()
                    packet.blockID = block
                    packet.sessionID = "bench"
                    packet.data = data
                    data = try await gateway.infer(packet, options: callOptions).data
                }
            }
        }
        let chained = try await GatewayBenchmark.connect(controllerAddress, token: echo.platform.token) { grpc in
            let controller = vDAGInferenceService.Client(wrapping: grpc)
            return try await samples {
                var packet = vDAGInferencePacket()
                packet.sessionID = "bench"
                packet.data = input
                _ = try await controller.infer(packet, options: callOptions)
            }
        }
        print(String(format: "  latency p50: vDAG %.3f ms, 3 gateway calls %.3f ms, ratio %.2fx; per hop %+.3f ms (negative: the controller saves the client a round trip per hop) (%d calls each)",
                     chained.p50 * 1000, direct.p50 * 1000, chained.p50 / direct.p50, (chained.p50 - direct.p50) / 3 * 1000, calls))
        print(String(format: "  latency p99: vDAG %.3f ms, 3 gateway calls %.3f ms, ratio %.2fx",
                     chained.p99 * 1000, direct.p99 * 1000, chained.p99 / direct.p99))
    }

    static func samples(_ call: () async throws -> Void) async throws -> GatewayBenchmark.Latency {
        for _ in 0..<200 { try await call() }
        var samples: [Double] = []
        for _ in 0..<calls {
            let start = ContinuousClock.now
            try await call()
            let elapsed = start.duration(to: .now)
            samples.append(Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
        }
        samples.sort()
        return GatewayBenchmark.Latency(p50: samples[samples.count / 2], p99: samples[samples.count * 99 / 100])
    }
}
