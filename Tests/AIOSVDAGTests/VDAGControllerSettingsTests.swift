import AIOSModel
import AIOSVDAG
import XCTest

/// `controller`: the output wait and the quota checker, wherever it is written.
final class VDAGControllerSettingsTests: XCTestCase {
    private func parse(_ controller: JSONValue) throws(APIError) -> VDAGControllerSettings {
        try VDAGDoc.parse(VDAGDoc.spec(nodes: [VDAGDoc.node("a")], connections: [], extra: ["controller": controller])).controller
    }

    private func errors(_ controller: JSONValue, file: StaticString = #filePath, line: UInt = #line) -> [FieldError] {
        VDAGDoc.errors(VDAGDoc.spec(nodes: [VDAGDoc.node("a")], connections: [], extra: ["controller": controller]), file: file, line: line)
    }

    func testQuotaCheckerUnderController() throws {
        let settings = try parse([
            "inputSources": [], "initParameters": [:], "policies": [],
            "initSettings": ["maxOutputWaitTimeSeconds": 12.5],
            "quotaChecker": ["enabled": true, "quotaCheckerPolicyRule": [
                "policyRuleURI": "policy.quotaChecker.window:v1", "parameters": ["max_requests": 10, "window_seconds": 60]]],
        ])
        XCTAssertEqual(settings, VDAGControllerSettings(
            maxOutputWaitSeconds: 12.5, quota: VDAGQuota(policyURI: "policy.quotaChecker.window:v1", maxRequests: 10, windowSeconds: 60)))
    }

    func testQuotaCheckerInInitSettingsAndPolicies() throws {
        let fromSettings = try parse(["initSettings": ["quotaChecker": ["quotaCheckerPolicyRule": ["parameters": ["limit": 3]]]]])
        XCTAssertEqual(fromSettings.quota, VDAGQuota(policyURI: nil, maxRequests: 3, windowSeconds: 60))

        let fromPolicies = try parse(["policies": [["name": "other"], ["name": "quotaChecker", "policyRuleURI": "q", "parameters": ["quota": 5, "window_seconds": 1.5]]]])
        XCTAssertEqual(fromPolicies.quota, VDAGQuota(policyURI: "q", maxRequests: 5, windowSeconds: 1.5))

        let wrapped = try parse(["policies": [["values": ["name": "quotaChecker", "quotaCheckerPolicyRule": ["parameters": ["max_requests": 2]]]]]])
        XCTAssertEqual(wrapped.quota?.maxRequests, 2)
    }

    func testDisabledQuotaIsNil() throws {
        XCTAssertNil(try parse(["quotaChecker": ["enabled": false]]).quota)
        XCTAssertEqual(try parse([:]), VDAGControllerSettings())
    }

    func testQuotaProblems() {
        let errors = errors([
            "quotaChecker": ["enabled": true, "quotaCheckerPolicyRule": ["parameters": ["window_seconds": 0]]],
            "policies": [["name": "quotaChecker", "parameters": ["max_requests": 1]]],
        ])
        assertError(errors, at: "controller.quotaChecker.quotaCheckerPolicyRule.parameters.max_requests", contains: "required")
        assertError(errors, at: "controller.quotaChecker.quotaCheckerPolicyRule.parameters.window_seconds", contains: "greater than 0")
        assertError(errors, at: "controller.policies[0]", contains: "already given at body.spec.values.controller.quotaChecker")
        XCTAssertEqual(errors.count, 3, "\(errors)")

        let more = self.errors(["quotaChecker": ["quotaCheckerPolicyRule": ["parameters": ["max_requests": 0, "limit": 4]]]])
        assertError(more, at: "controller.quotaChecker.quotaCheckerPolicyRule.parameters.max_requests", contains: "at least 1")
        assertError(more, at: "controller.quotaChecker.quotaCheckerPolicyRule.parameters.limit", contains: "give one of")

        let missingRule = self.errors(["quotaChecker": ["enabled": true]])
        assertError(missingRule, at: "controller.quotaChecker.quotaCheckerPolicyRule", contains: "required when the quota checker is enabled")
    }

    func testOutputWaitBounds() {
        for bad: JSONValue in [0, -1, 3601] {
            let errors = errors(["initSettings": ["maxOutputWaitTimeSeconds": bad]])
            assertError(errors, at: "controller.initSettings.maxOutputWaitTimeSeconds", contains: "at most 3600")
        }
        let typeErrors = errors(["initSettings": "fast", "inputSources": [:]])
        assertError(typeErrors, at: "controller.initSettings", contains: "expected an object")
        assertError(typeErrors, at: "controller.inputSources", contains: "expected an array")
    }
}
