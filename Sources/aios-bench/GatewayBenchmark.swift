import AIOSClient
import AIOSModel
import AIOSWire
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2

/// The inference gateway against its baseline, measured in the same run on the same Swift echo instance:
/// `BlockInferenceService/infer` through a release `aios up`, versus the instance's own `Infer` called
/// directly. Sequential latency (p50/p99) and throughput with 64 concurrent callers on one HTTP/2
/// connection each way.
enum GatewayBenchmark {
    static let sequentialCalls = 3000
    static let concurrency = 64
    static let throughputSeconds = 4.0

    static func run() async throws {
        let echo = try await EchoPlatform.start(name: "bench-gateway")
        defer { echo.stop() }
        let platform = echo.platform, client = echo.client
        _ = try await client.post("/api/createBlock", body: JSONValue.object([
            "blockId": "bench-gateway", "blockComponentURI": .string(echo.componentURI), "minInstances": 1, "maxInstances": 1,
        ]).jsonData()).get()
        var instanceAddress: String?
        let ready = Date().addingTimeInterval(30)
        while instanceAddress == nil && Date() < ready {
            let block = try await client.get("/api/blocks/bench-gateway").get()
            if block["phase"]?.stringValue == "Ready" { instanceAddress = block["instances"]?.arrayValue?.first?["address"]?.stringValue }
            if instanceAddress == nil { try await Task.sleep(for: .milliseconds(100)) }
        }
        guard let instanceAddress else { throw StartupBenchmark.Failure(description: "the bench block did not become ready") }

        let input = JSONValue.object(["text": "hello gateway"]).jsonString()
        var gatewayPacket = BlockInferencePacket()
        gatewayPacket.blockID = "bench-gateway"
        gatewayPacket.sessionID = "bench"
        gatewayPacket.data = input
        var directRequest = Aios_Instance_V1_InferRequest()
        directRequest.packet.sessionID = "bench"
        directRequest.packet.data = input
        let gatewayCall = gatewayPacket, directCall = directRequest
        var options = CallOptions.defaults
        options.timeout = .seconds(10)
        let callOptions = options

        print("\ngateway benchmark (release aios, Swift echo block, 1 instance; baseline: the instance's Infer called directly)")
        let (gatewayLatency, gatewayRate) = try await connect(platform.grpcAddress, token: platform.token) { grpc in
            let gateway = BlockInferenceService.Client(wrapping: grpc)
            return try await measure { _ = try await gateway.infer(gatewayCall, options: callOptions) }
        }
        let (directLatency, directRate) = try await connect(instanceAddress) { grpc in
            let instance = Aios_Instance_V1_Instance.Client(wrapping: grpc)
            return try await measure { _ = try await instance.infer(directCall, options: callOptions) }
        }
        print(String(format: "  latency p50: gateway %.3f ms, direct %.3f ms, ratio %.2fx (goal ≤ 1.3x)",
                     gatewayLatency.p50 * 1000, directLatency.p50 * 1000, gatewayLatency.p50 / directLatency.p50))
        print(String(format: "  latency p99: gateway %.3f ms, direct %.3f ms, ratio %.2fx (goal ≤ 1.3x)",
                     gatewayLatency.p99 * 1000, directLatency.p99 * 1000, gatewayLatency.p99 / directLatency.p99))
        print(String(format: "  throughput (%d concurrent callers): gateway %.0f req/s, direct %.0f req/s, ratio %.2fx (goal ≥ 20000 req/s through the gateway)",
                     concurrency, gatewayRate, directRate, gatewayRate / directRate))
    }

    struct Latency {
        var p50: Double
        var p99: Double
    }

    static func connect<T: Sendable>(_ address: String, token: String? = nil, _ body: (GRPCClient<HTTP2ClientTransport.Posix>) async throws -> T) async throws -> T {
        guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]) else {
            throw StartupBenchmark.Failure(description: "not host:port: \(address)")
        }
        let transport = try HTTP2ClientTransport.Posix(target: .ipv4(address: String(address[..<colon]), port: port), transportSecurity: .plaintext)
        let interceptors: [any ClientInterceptor] = token.map { [BearerTokenClientInterceptor(token: $0)] } ?? []
        return try await withGRPCClient(transport: transport, interceptors: interceptors) { try await body($0) }
    }

    /// Sequential latency percentiles, then requests per second with `concurrency` callers.
    static func measure(_ call: @escaping @Sendable () async throws -> Void) async throws -> (Latency, Double) {
        for _ in 0..<300 { try await call() }
        var samples: [Double] = []
        samples.reserveCapacity(sequentialCalls)
        for _ in 0..<sequentialCalls {
            let start = ContinuousClock.now
            try await call()
            let elapsed = start.duration(to: .now)
            samples.append(Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
        }
        samples.sort()
        let latency = Latency(p50: samples[samples.count / 2], p99: samples[samples.count * 99 / 100])
        let end = ContinuousClock.now + .milliseconds(Int64(throughputSeconds * 1000))
        let started = ContinuousClock.now
        let completed = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<concurrency {
                group.addTask {
                    var count = 0
                    while ContinuousClock.now < end {
                        try await call()
                        count += 1
                    }
                    return count
                }
            }
            return try await group.reduce(0, +)
        }
        let elapsed = started.duration(to: .now)
        return (latency, Double(completed) / (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18))
    }
}
