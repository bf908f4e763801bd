import Dispatch
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2

/// Runs a Swift block: `try await InstanceMain.run(MyBlock.self)` is the whole `main`.
///
/// Reads the context from the environment, builds the block (a failing initialiser exits 1 with the error
/// on standard error, and the runtime restarts it with backoff), serves the instance protocol on
/// `AIOS_LISTEN`, prints `aios_instance ready: BLOCK/INSTANCE on ADDRESS`, and on SIGTERM or SIGINT stops
/// accepting calls, lets in-flight ones finish for up to 5 seconds, and exits 0.
public enum InstanceMain {
    public static func run<Block: InstanceBlock>(_ type: Block.Type) async throws {
        let context: InstanceContext
        let block: Block
        do {
            context = try InstanceContext.fromEnvironment()
            block = try await Block(context: context)
        } catch {
            FileHandle.standardError.write(Data("aios_instance: cannot start: \(error)\n".utf8))
            exit(1)
        }
        guard let colon = context.listen.lastIndex(of: ":"), let port = Int(context.listen[context.listen.index(after: colon)...]) else {
            FileHandle.standardError.write(Data("aios_instance: AIOS_LISTEN \(context.listen) is not host:port\n".utf8))
            exit(1)
        }
        let host = String(context.listen[..<colon])
        let service = InstanceService(block: block, parameters: ParameterStore(context.parameters))
        var config = HTTP2ServerTransport.Posix.Config.defaults
        config.rpc.maxRequestPayloadSize = 64 * 1024 * 1024  // files ride in packets
        let server = GRPCServer(
            transport: .http2NIOPosix(address: .ipv4(host: host, port: port), transportSecurity: .plaintext, config: config),
            services: [service])

        let signals = ShutdownSignals {
            server.beginGracefulShutdown()
            DispatchQueue.global().asyncAfter(deadline: .now() + 5) { exit(0) }
        }
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { try await server.serve() }
            if let address = try await server.listeningAddress {
                let line = "aios_instance ready: \(context.blockId)/\(context.instanceId) on \(address)\n"
                FileHandle.standardOutput.write(Data(line.utf8))
            }
        }
        withExtendedLifetime(signals) {}
    }
}

/// Calls `handler` once on SIGTERM or SIGINT.
final class ShutdownSignals: @unchecked Sendable {
    private var sources: [any DispatchSourceSignal] = []

    init(_ handler: @escaping @Sendable () -> Void) {
        let once = Once(handler)
        for signalNumber in [SIGTERM, SIGINT] {
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
            source.setEventHandler { once.run() }
            source.resume()
            sources.append(source)
        }
    }

    private final class Once: @unchecked Sendable {
        private let lock = NSLock()
        private var done = false
        private let handler: @Sendable () -> Void

        init(_ handler: @escaping @Sendable () -> Void) {
            self.handler = handler
        }

        func run() {
            lock.lock()
            let first = !done
            done = true
            lock.unlock()
            if first { handler() }
        }
    }
}
