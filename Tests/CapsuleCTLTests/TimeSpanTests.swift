import Foundation
import Testing

@testable import CapsuleCTL

struct TimeSpanTests {
    @Test(
        arguments: [("30s", 30.0), ("10m", 600), ("2h", 7_200), ("7d", 604_800), ("0s", 0), ("1.5h", 5_400)]
            as [(String, Double)]
    )
    func spans(text: String, seconds: Double) {
        #expect(TimeSpan.seconds(text) == seconds)
    }

    @Test(arguments: ["", "30", "s", "-5m", "10x", "ten m", "1w", "10M"])
    func notASpan(_ text: String) {
        #expect(TimeSpan.seconds(text) == nil)
    }

    @Test func anAgeCountsBackFromNow() {
        let now = Date(timeIntervalSince1970: 1_700_000_000)
        #expect(TimeSpan.date("10m", now: now) == now.addingTimeInterval(-600))
    }

    @Test func anISOTimeIsTakenAsIs() {
        #expect(TimeSpan.date("2023-11-14T22:13:20Z") == Date(timeIntervalSince1970: 1_700_000_000))
        #expect(TimeSpan.date("yesterday") == nil)
    }
}

struct TableTests {
    @Test func columnsAreAlignedAndTheLastIsNotPadded() {
        let text = Table.render(["CODE", "STATUS"], [["billing", "HEALTHY"], ["a", "OFFLINE"]])
        #expect(text == "CODE     STATUS\nbilling  HEALTHY\na        OFFLINE")
    }

    @Test(
        arguments: [
            (nil, "-"), (0, "0s ago"), (-5, "0s ago"), (119, "119s ago"), (120, "2m ago"), (7_199, "119m ago"),
            (7_200, "2h ago"),
        ]
            as [(Double?, String)]
    )
    func ago(seconds: Double?, text: String) {
        let now = Date(timeIntervalSince1970: 1_700_000_000)
        #expect(Table.ago(seconds.map { now.addingTimeInterval(-$0) }, now: now) == text)
    }

    @Test func timestampsAreUTCWithMilliseconds() {
        #expect(Table.timestamp(Date(timeIntervalSince1970: 1_700_000_000.5)) == "2023-11-14T22:13:20.500Z")
        #expect(Table.timestamp(nil) == "-")
    }

    @Test func jsonOutputSortsKeysAndWritesDatesAsTimestamps() {
        struct Row: Encodable {
            var zeta = 1
            var alpha = Date(timeIntervalSince1970: 1_700_000_000)
        }
        #expect(JSONOutput.line(Row()) == #"{"alpha":"2023-11-14T22:13:20.000Z","zeta":1}"#)
    }
}
