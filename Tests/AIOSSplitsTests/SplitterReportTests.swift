import AIOSSplits
import XCTest

final class SplitterReportTests: XCTestCase {
    func testProgressAndStageLinesAreReadOtherOutputIsNot() {
        XCTAssertEqual(SplitterReport(line: #"AIOS_SPLIT_PROGRESS {"progress": 0.25, "message": "split 1/4"}"#),
                       .progress(0.25, message: "split 1/4"))
        XCTAssertEqual(SplitterReport(line: #"AIOS_SPLIT_PROGRESS {"progress": 7}"#), .progress(1, message: ""), "clamped to 0…1")
        XCTAssertEqual(SplitterReport(line: #"AIOS_SPLIT_STAGE {"stage": "main", "ok": false, "message": "boom"}"#),
                       .stage("main", ok: false, message: "boom"))
        XCTAssertNil(SplitterReport(line: "loading tensors"))
        XCTAssertNil(SplitterReport(line: "AIOS_SPLIT_PROGRESS not json"))
        XCTAssertNil(SplitterReport(line: #"AIOS_SPLIT_STAGE {"stage": "main"}"#), "ok is required")
    }
}
