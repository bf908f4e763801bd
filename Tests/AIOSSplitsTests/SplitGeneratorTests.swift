import AIOSBlock
import AIOSModel
import AIOSSplits
import AIOSWire
import Foundation
import Synchronization
import XCTest

/// The decode loop against a fake chain: a last split that answers token `position` (so tokens are
/// predictable), ends with `eos` at a given position, and can be told to lose the session once.
final class SplitGeneratorTests: XCTestCase {
    final class FakeChain: Sendable {
        struct State {
            var calls: [[String: JSONValue]] = []
            var cached = 0
            var loseSessionAtCall: Int?
            var failAtCall: Int?
            var released: [String] = []
        }
        let state = Mutex(State())
        let eosAt: Int
        let promptLength = 5

        init(eosAt: Int = 1000, loseSessionAtCall: Int? = nil, failAtCall: Int? = nil) {
            self.eosAt = eosAt
            state.withLock {
                $0.loseSessionAtCall = loseSessionAtCall
                $0.failAtCall = failAtCall
            }
        }

        func step(_ packet: AIOSPacket) throws(InferenceError) -> AIOSPacket {
            let data = JSONValue.decodeJSON(Data(packet.data.utf8))?.objectValue ?? [:]
            let result: Result<Int, InferenceError> = state.withLock { state in
                state.calls.append(data)
                let call = state.calls.count
                if call == state.failAtCall { return .failure(InferenceError(.unavailable, "node split-1 (block b-1) failed: gone")) }
                if call == state.loseSessionAtCall {
                    state.cached = 0
                    return .failure(InferenceError(.invalidArgument, "split [10, 20): position mismatch: expected position 0"))
                }
                if data["messages"] != nil || data["prompt"] != nil {
                    state.cached = promptLength
                } else if let token = data["token"]?.intValue, let position = data["position"]?.intValue {
                    guard position == state.cached else { return .failure(InferenceError(.invalidArgument, "position mismatch")) }
                    _ = token
                    state.cached += 1
                } else if let tokens = data["tokens"]?.arrayValue, let position = data["position"]?.intValue {
                    state.cached = position + tokens.count
                }
                return .success(state.cached)
            }
            let position = try result.get()
            var reply = AIOSPacket()
            reply.sessionID = packet.sessionID
            reply.data = JSONValue.object([
                "token": .number(Double(position)), "text": .string("t\(position) "), "eos": .bool(position >= eosAt),
                "position": .number(Double(position)),
            ]).jsonString()
            return reply
        }

        var generator: SplitGenerator {
            SplitGenerator(step: { packet, _ throws(InferenceError) in try self.step(packet) },
                           release: { session in self.state.withLock { $0.released.append(session) } })
        }

        func waitForRelease() async {
            for _ in 0..<200 where state.withLock({ $0.released.isEmpty }) { try? await Task.sleep(for: .milliseconds(5)) }
        }
    }

    private let messages: [String: JSONValue] = ["messages": [["role": "user", "content": "hi"]]]

    func testGeneratesUntilMaxTokensThenReleasesTheSession() async throws {
        let chain = FakeChain()
        var body = messages
        body["max_tokens"] = 4
        let pieces = Mutex<[String]>([])
        let result = try await chain.generator.generate(body, session: "s", clientTimeout: nil) { text in pieces.withLock { $0.append(text) } }
        XCTAssertEqual(result.text, "t5 t6 t7 t8 ")
        XCTAssertEqual(result.completionTokens, 4)
        XCTAssertEqual(result.promptTokens, 5)
        XCTAssertEqual(result.finishReason, "length")
        XCTAssertEqual(pieces.withLock { $0 }, ["t5 ", "t6 ", "t7 ", "t8 "], "each token is handed on as it comes")
        await chain.waitForRelease()
        let released = chain.state.withLock { $0.released }
        XCTAssertEqual(released.count, 1)
        XCTAssertTrue(released[0].hasPrefix("s::"), "a session of its own per generation: \(released)")
    }

    func testStopsAtEOSWithoutKeepingIt() async throws {
        let chain = FakeChain(eosAt: 7)
        let result = try await chain.generator.generate(messages, session: "", clientTimeout: nil) { _ in }
        XCTAssertEqual(result.text, "t5 t6 ")
        XCTAssertEqual(result.finishReason, "stop")
    }

    func testALostSessionIsRePrefilledWithTheKeptTokens() async throws {
        let chain = FakeChain(loseSessionAtCall: 3)
        var body = messages
        body["max_tokens"] = 5
        let result = try await chain.generator.generate(body, session: "s", clientTimeout: nil) { _ in }
        XCTAssertEqual(result.text, "t5 t6 t7 t8 t9 ", "the answer is the undisturbed one")
        let calls = chain.state.withLock { $0.calls }
        XCTAssertNotNil(calls[3]["messages"], "the turn again: \(calls)")
        XCTAssertEqual(calls[4]["tokens"], [5, 6], "then every kept token: \(calls)")
        XCTAssertEqual(calls[4]["position"], 5)
    }

    func testOtherFailuresEndTheGenerationAndStillRelease() async throws {
        let chain = FakeChain(failAtCall: 3)
        do {
            _ = try await chain.generator.generate(messages, session: "s", clientTimeout: nil) { _ in }
            XCTFail("expected the split's failure")
        } catch {
            XCTAssertEqual(error.code, .unavailable)
            XCTAssertTrue(error.message.contains("node split-1"), error.message)
        }
        await chain.waitForRelease()
        XCTAssertEqual(chain.state.withLock { $0.released.count }, 1)
    }

    func testBadRequestsAreRefused() async {
        let chain = FakeChain()
        for body: [String: JSONValue] in [[:], ["messages": []], ["messages": [["role": "user", "content": "x"]], "max_tokens": 0],
                                         ["prompt": "x", "max_tokens": 100_000]] {
            do {
                _ = try await chain.generator.generate(body, session: "s", clientTimeout: nil) { _ in }
                XCTFail("\(body) should be refused")
            } catch {
                XCTAssertEqual(error.code, .invalidArgument, "\(body)")
            }
        }
        XCTAssertEqual(chain.state.withLock { $0.calls.count }, 0, "nothing reached the chain")
    }

    func testTheTimeoutBoundsTheWholeGeneration() async throws {
        let chain = FakeChain()
        let slow = SplitGenerator(step: { packet, _ throws(InferenceError) in
            try? await Task.sleep(for: .milliseconds(30))
            return try chain.step(packet)
        }, release: { _ in })
        var body = messages
        body["max_tokens"] = 1000
        do {
            _ = try await slow.generate(body, session: "s", clientTimeout: .milliseconds(200)) { _ in }
            XCTFail("expected the deadline")
        } catch {
            XCTAssertEqual(error.code, .deadlineExceeded, error.message)
        }
        XCTAssertLessThan(chain.state.withLock { $0.calls.count }, 20, "not a timeout per token")
    }
}
