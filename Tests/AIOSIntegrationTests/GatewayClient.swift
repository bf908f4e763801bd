import AIOSModel
import AIOSWire
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2

/// A Swift gRPC client of the gateway's `BlockInferenceService`, over one shared HTTP/2 connection.
struct GatewayClient: Sendable {
    let client: BlockInferenceService.Client<HTTP2ClientTransport.Posix>

    /// Runs `body` with a client connected to the platform's gRPC gateway.
    static func with<T: Sendable>(_ platform: PlatformProcess, _ body: (GatewayClient) async throws -> T) async throws -> T {
        let address = platform.grpcAddress
        guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]) else {
            throw PlatformError("no gRPC gateway address in aios up's output: \"\(address)\"")
        }
        let transport = try HTTP2ClientTransport.Posix(target: .ipv4(address: String(address[..<colon]), port: port), transportSecurity: .plaintext)
        let interceptors: [any ClientInterceptor] = platform.token.map { [BearerTokenClientInterceptor(token: $0)] } ?? []
        return try await withGRPCClient(transport: transport, interceptors: interceptors) { client in
            try await body(GatewayClient(client: BlockInferenceService.Client(wrapping: client)))
        }
    }

    enum Outcome: Sendable {
        case ok(JSONValue)
        case failed(RPCError.Code, String)

        var data: JSONValue? {
            if case .ok(let data) = self { return data }
            return nil
        }

        var code: RPCError.Code? {
            if case .failed(let code, _) = self { return code }
            return nil
        }

        var message: String {
            switch self {
            case .ok(let data): data.jsonString()
            case .failed(let code, let message): "\(code): \(message)"
            }
        }
    }

    /// One `infer`; the reply's data parsed as JSON, or the status.
    func infer(block: String, session: String = "", seq: UInt64 = 1, data: JSONValue, timeout: Duration = .seconds(10)) async -> Outcome {
        var packet = BlockInferencePacket()
        packet.blockID = block
        packet.sessionID = session
        packet.seqNo = seq
        packet.data = data.jsonString()
        var options = CallOptions.defaults
        options.timeout = timeout
        do {
            let reply = try await client.infer(packet, options: options)
            return .ok(JSONValue.decodeJSON(Data(reply.data.utf8)) ?? .string(reply.data))
        } catch let error as RPCError {
            return .failed(error.code, error.message)
        } catch {
            return .failed(.unknown, "\(error)")
        }
    }
}
