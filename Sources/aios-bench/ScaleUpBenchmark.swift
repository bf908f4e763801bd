import AIOSClient
import AIOSModel
import AIOSWire
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2

/// Time from the start of a sustained overload to a second instance serving requests, with the default
/// 5-second autoscaler interval. Baseline, measured in the same run: a new block's create → first request
/// served through the gateway (what starting an instance costs by itself).
enum ScaleUpBenchmark {
    static func run() async throws {
        let echo = try await EchoPlatform.start(name: "bench-scale")
        defer { echo.stop() }
        let platform = echo.platform, client = echo.client
        print("\nscale-up benchmark (release aios, Swift echo burning CPU, cpu-usage-autoscaler at its default 5 s interval)")
        try await GatewayBenchmark.connect(platform.grpcAddress, token: platform.token) { grpc in
            let gateway = BlockInferenceService.Client(wrapping: grpc)
            // Baseline: create → first request served.
            let created = ContinuousClock.now
            _ = try await client.post("/api/createBlock", body: JSONValue.object([
                "blockId": "bench-baseline", "blockComponentURI": .string(echo.componentURI), "minInstances": 1, "maxInstances": 1,
            ]).jsonData()).get()
            while (try? await infer(gateway, "bench-baseline", ["text": "x"])) == nil {
                try await Task.sleep(for: .milliseconds(20))
            }
            let baseline = seconds(created.duration(to: .now))

            _ = try await client.post("/api/createBlock", body: JSONValue.object([
                "blockId": "bench-scale", "blockComponentURI": .string(echo.componentURI), "minInstances": 1, "maxInstances": 2,
                "policyRulesSpec": [["values": [
                    "name": "autoscaler", "policyRuleURI": "policy.autoscaler.cpu-usage-autoscaler:v0.0.1",
                    "parameters": ["target_cpu_utilization": 0.5], "settings": ["scale_up_cooldown": 0],
                ]]],
            ]).jsonData()).get()
            var answered: String?
            while answered == nil {
                answered = try? await infer(gateway, "bench-scale", ["text": "x"])
                if answered == nil { try await Task.sleep(for: .milliseconds(20)) }
            }
            let first = answered
            // Sustained overload: four callers keeping CPUs busy, until a second instance answers.
            let overload = ContinuousClock.now
            let reacted: Double = try await withThrowingTaskGroup(of: Double?.self) { group in
                for caller in 0..<4 {
                    group.addTask {
                        while ContinuousClock.now < overload + .seconds(60) {
                            let instance = try? await infer(gateway, "bench-scale", ["burn_ms": 100], session: "caller-\(caller)")
                            if let instance, instance != first { return seconds(overload.duration(to: .now)) }
                        }
                        return nil
                    }
                }
                defer { group.cancelAll() }
                for try await result in group {
                    if let result { return result }
                }
                throw StartupBenchmark.Failure(description: "no second instance served within 60 s of overload")
            }
            print(String(format: "  overload → second instance serving: %.2f s (goal ≤ 10 s); a new block's create → first request: %.2f s; ratio %.2fx",
                         reacted, baseline, reacted / max(baseline, 1e-6)))
        }
    }

    /// The id of the instance that answered.
    static func infer(_ gateway: BlockInferenceService.Client<HTTP2ClientTransport.Posix>, _ block: String, _ data: JSONValue, session: String = "") async throws -> String {
        var packet = BlockInferencePacket()
        packet.blockID = block
        packet.sessionID = session
        packet.data = data.jsonString()
        var options = CallOptions.defaults
        options.timeout = .seconds(10)
        let reply = try await gateway.infer(packet, options: options)
        return JSONValue.decodeJSON(Data(reply.data.utf8))?["instanceId"]?.stringValue ?? ""
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}
