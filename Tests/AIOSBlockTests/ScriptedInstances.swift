@testable import AIOSBlock
import AIOSWire
import GRPCCore
import Synchronization
import XCTest

/// Instances that stand in for the network under a `BlockExecutor`: each answers, refuses, fails or holds
/// its calls as the test scripts it, and counts what it was asked.
final class ScriptedTransport: InstanceTransport {
    private let instances = Mutex<[String: ScriptedInstance]>([:])

    /// The instance that will serve `instanceId` (made on first use, answering at once).
    func instance(_ instanceId: String) -> ScriptedInstance {
        instances.withLock { instances in
            if let existing = instances[instanceId] { return existing }
            let instance = ScriptedInstance(instanceId: instanceId)
            instances[instanceId] = instance
            return instance
        }
    }

    func channel(instanceId: String, address: String) throws -> any InstanceChannel {
        instance(instanceId)
    }
}

final class ScriptedInstance: InstanceChannel {
    enum Behaviour: Sendable {
        /// Answers at once with one packet whose data is the instance id.
        case answer
        /// Waits until `open()`, then answers; a call past its timeout fails with `.deadlineExceeded`.
        case hold
        /// Does not take the call (gone, connection refused).
        case refuse
        /// Answers with an error status.
        case fail(RPCError.Code)
        /// Streams one reply, then loses the connection.
        case streamThenDrop
    }

    struct Counters {
        var behaviour: Behaviour = .answer
        var open = false
        var calls = 0
        var inFlight = 0
        var maxInFlight = 0
        var closed = false
        var sessions: [String] = []
    }

    let instanceId: String
    private let counters = Mutex(Counters())

    init(instanceId: String) {
        self.instanceId = instanceId
    }

    var behaviour: Behaviour {
        get { counters.withLock { $0.behaviour } }
        set { counters.withLock { $0.behaviour = newValue; $0.open = false } }
    }

    /// Lets held calls answer (and later ones answer at once).
    func open() { counters.withLock { $0.open = true } }
    var calls: Int { counters.withLock { $0.calls } }
    var inFlight: Int { counters.withLock { $0.inFlight } }
    var maxInFlight: Int { counters.withLock { $0.maxInFlight } }
    var closed: Bool { counters.withLock { $0.closed } }

    func infer(_ packet: AIOSPacket, timeout: Duration) async throws -> [AIOSPacket] {
        try await call(packet, timeout: timeout)
        return [reply()]
    }

    func inferStream(_ packet: AIOSPacket, timeout: Duration,
                     onOutputs: @escaping @Sendable ([AIOSPacket]) async throws -> Void) async throws {
        if case .streamThenDrop = behaviour {
            enter()
            defer { leave() }
            try await onOutputs([reply()])
            throw RPCError(code: .unavailable, message: "\(instanceId): connection lost mid-stream")
        }
        try await call(packet, timeout: timeout)
        try await onOutputs([reply()])
    }

    func manage(action: String, dataJSON: String, timeout: Duration) async throws -> String {
        try await call(AIOSPacket(), timeout: timeout)
        return "{\"instance\": \"\(instanceId)\", \"action\": \"\(action)\", \"data\": \(dataJSON)}"
    }

    func updateParameters(parametersJSON: String, timeout: Duration) async throws -> String {
        try await call(AIOSPacket(), timeout: timeout)
        return parametersJSON
    }

    func close() { counters.withLock { $0.closed = true } }

    private func reply() -> AIOSPacket {
        var packet = AIOSPacket()
        packet.data = instanceId
        return packet
    }

    private func enter() {
        counters.withLock {
            $0.calls += 1
            $0.inFlight += 1
            $0.maxInFlight = max($0.maxInFlight, $0.inFlight)
        }
    }

    private func leave() { counters.withLock { $0.inFlight -= 1 } }

    private func call(_ packet: AIOSPacket, timeout: Duration) async throws {
        enter()
        defer { leave() }
        switch behaviour {
        case .answer, .streamThenDrop:
            return
        case .refuse:
            throw RPCError(code: .unavailable, message: "\(instanceId): connection refused")
        case .fail(let code):
            throw RPCError(code: code, message: "\(instanceId) failed")
        case .hold:
            // A fake may poll: what it stands in for is the network, not what is tested.
            let deadline = ContinuousClock.now + timeout
            while !counters.withLock({ $0.open }) {
                if ContinuousClock.now >= deadline { throw RPCError(code: .deadlineExceeded, message: "\(instanceId): timed out") }
                try await Task.sleep(for: .milliseconds(2))
            }
        }
    }
}

/// Waits (bounded) until `condition` holds; fails the test when it never does.
func eventually(_ what: String, within limit: Duration = .seconds(5), file: StaticString = #filePath, line: UInt = #line,
                _ condition: () -> Bool) async {
    let deadline = ContinuousClock.now + limit
    while !condition() {
        if ContinuousClock.now >= deadline {
            XCTFail("timed out waiting until \(what)", file: file, line: line)
            return
        }
        try? await Task.sleep(for: .milliseconds(2))
    }
}
