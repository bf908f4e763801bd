@testable import AIOSBlock
import AIOSModel
import XCTest

final class LoadBalancerTests: XCTestCase {
    private func candidates(_ ids: [String], inFlight: [String: Int] = [:], limit: Int = 100) -> [Candidate] {
        ids.map { Candidate(instanceId: $0, inFlight: inFlight[$0] ?? 0, hasCapacity: (inFlight[$0] ?? 0) < limit) }
    }

    private func assign(_ balancer: inout some LoadBalancer, sessions: Int, over ids: [String]) -> [String: String] {
        var mapping: [String: String] = [:]
        for index in 0..<sessions {
            let session = "session-\(index)"
            mapping[session] = balancer.pick(session: session, from: candidates(ids))
        }
        return mapping
    }

    func testSessionAwareKeepsASessionOnItsInstance() {
        var balancer = ConsistentHashBalancer()
        let ids = ["in-a", "in-b", "in-c"]
        let first = balancer.pick(session: "s-1", from: candidates(ids))
        for _ in 0..<100 {
            XCTAssertEqual(balancer.pick(session: "s-1", from: candidates(ids)), first)
        }
    }

    func testSessionAwareMovesFewerThanHalfWhenScalingThreeToFour() {
        var balancer = ConsistentHashBalancer()
        let before = assign(&balancer, sessions: 1000, over: ["in-a", "in-b", "in-c"])
        let after = assign(&balancer, sessions: 1000, over: ["in-a", "in-b", "in-c", "in-d"])
        let moved = before.filter { after[$0.key] != $0.value }
        XCTAssertLessThan(moved.count, 500)
        // Every moved session moved to the new instance, none between old ones.
        XCTAssertTrue(moved.allSatisfy { after[$0.key] == "in-d" })
        // And the new instance got a fair share (~1/4).
        XCTAssertGreaterThan(moved.count, 150)
    }

    func testSessionAwareMovesOnlyTheSessionsOfAnInstanceThatLeaves() {
        var balancer = ConsistentHashBalancer()
        let before = assign(&balancer, sessions: 1000, over: ["in-a", "in-b", "in-c"])
        balancer.instanceLeft("in-b")
        let after = assign(&balancer, sessions: 1000, over: ["in-a", "in-c"])
        for (session, instance) in before {
            if instance == "in-b" {
                XCTAssertNotEqual(after[session], "in-b")
            } else {
                XCTAssertEqual(after[session], instance, "\(session) moved although its instance stayed")
            }
        }
    }

    func testSessionAwareSpreadsSessions() {
        var balancer = ConsistentHashBalancer()
        let mapping = assign(&balancer, sessions: 3000, over: ["in-a", "in-b", "in-c"])
        let counts = Dictionary(grouping: mapping.values, by: { $0 }).mapValues(\.count)
        XCTAssertEqual(counts.count, 3)
        XCTAssertTrue(counts.values.allSatisfy { $0 > 800 && $0 < 1200 }, "\(counts)")
    }

    func testRoundRobinWithSessionCacheKeepsSessionsAndMovesOnlyThoseOfALeavingInstance() {
        var balancer = RoundRobinBalancer(cacheSessions: true, sessionCacheSize: 1000)
        let before = assign(&balancer, sessions: 300, over: ["in-a", "in-b", "in-c"])
        XCTAssertEqual(Set(before.values), ["in-a", "in-b", "in-c"])
        // Scaling up moves nobody: cached sessions stay.
        let scaled = assign(&balancer, sessions: 300, over: ["in-a", "in-b", "in-c", "in-d"])
        XCTAssertEqual(scaled, before)
        balancer.instanceLeft("in-a")
        let after = assign(&balancer, sessions: 300, over: ["in-b", "in-c", "in-d"])
        for (session, instance) in before where instance != "in-a" {
            XCTAssertEqual(after[session], instance)
        }
        XCTAssertFalse(after.values.contains("in-a"))
    }

    func testRoundRobinWithoutCacheRotatesAndSkipsFullInstances() {
        var balancer = RoundRobinBalancer(cacheSessions: false, sessionCacheSize: 10)
        let picks = (0..<6).map { _ in balancer.pick(session: "same", from: candidates(["a", "b", "c"])) }
        XCTAssertEqual(Set(picks), ["a", "b", "c"])
        let busy = candidates(["a", "b", "c"], inFlight: ["a": 2, "b": 2], limit: 2)
        for _ in 0..<5 { XCTAssertEqual(balancer.pick(session: "", from: busy), "c") }
    }

    func testSessionCacheIsABoundedLRU() {
        var cache = SessionCache(capacity: 2)
        cache.bind("s1", to: "a")
        cache.bind("s2", to: "b")
        XCTAssertEqual(cache.instance(for: "s1"), "a")  // s1 is now the most recent
        cache.bind("s3", to: "c")                       // evicts s2
        XCTAssertNil(cache.instance(for: "s2"))
        XCTAssertEqual(cache.instance(for: "s1"), "a")
        XCTAssertEqual(cache.instance(for: "s3"), "c")
        cache.unbind(instance: "a")
        XCTAssertNil(cache.instance(for: "s1"))
        XCTAssertEqual(cache.count, 1)
        for index in 0..<100 { cache.bind("x\(index)", to: "z") }
        XCTAssertEqual(cache.count, 2)
    }

    func testLeastInFlightPicksTheIdlestInstance() {
        var balancer = LeastInFlightBalancer()
        XCTAssertEqual(balancer.pick(session: "", from: candidates(["a", "b", "c"], inFlight: ["a": 3, "b": 1, "c": 2])), "b")
    }

    func testSeedPolicyURIsResolveToTheirBuiltIns() {
        func settings(_ policy: JSONValue, initSettings: [String: JSONValue] = [:]) -> ExecutorSettings {
            ExecutorSettings(block: ResolvedBlock(blockInitData: [:], initSettings: initSettings, parameters: [:],
                                                  policies: ["loadBalancer": policy], inputProtocol: [:], outputProtocol: [:]))
        }
        let roundRobin = settings(["policyRuleURI": "policy.loadBalancer.roundrobin:v0.0.1",
                                   "parameters": ["cache_sessions": true], "settings": ["session_cache_size": 50]],
                                  initSettings: ["timeout_ms": 1500])
        XCTAssertEqual(roundRobin.balancing, .roundRobin(cacheSessions: true, sessionCacheSize: 50))
        XCTAssertEqual(roundRobin.defaultTimeout, .milliseconds(1500))
        XCTAssertNil(roundRobin.note)
        XCTAssertEqual(settings(["policyRuleURI": "policy.loadBalancer.session-aware-llm:v0.1.0"]).balancing, .sessionAware)
        XCTAssertEqual(settings(["policyRuleURI": "policy.loadBalancer.least-inflight:v1"]).balancing, .leastInFlight)
        let unknown = settings(["policyRuleURI": "policy.loadBalancer.my-own:v2"])
        XCTAssertEqual(unknown.balancing, .roundRobin(cacheSessions: false, sessionCacheSize: 1000))
        XCTAssertTrue(unknown.note?.contains("policy.loadBalancer.my-own:v2") == true)
        let bad = settings(["policyRuleURI": "policy.loadBalancer.roundrobin:v1", "settings": ["max_inflight_per_instance": -1]])
        XCTAssertEqual(bad.maxInFlightPerInstance, 128)
        XCTAssertTrue(bad.note?.contains("settings.max_inflight_per_instance") == true)
    }
}
