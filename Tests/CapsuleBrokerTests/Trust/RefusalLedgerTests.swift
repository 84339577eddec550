import CapsuleDomain
import Foundation
import Testing

@testable import CapsuleBroker

struct RefusalLedgerTests {
    static let t0 = Date(timeIntervalSince1970: 1_700_000_000)

    static func refusal(_ key: String, action: String = "peer.refused") -> RefusalLedger.Refusal {
        RefusalLedger.Refusal(
            action: action,
            subject: "key:\(key)",
            actor: "key:\(key)",
            reason: "connection to ingest refused: key not enrolled",
            details: ["domain": .string("ingest")]
        )
    }

    static func at(_ seconds: Double) -> Date { t0.addingTimeInterval(seconds) }

    @Test func theFirstRefusalOfAKeyIsAnEventAtOnce() throws {
        var ledger = RefusalLedger(window: 60, maxKeys: 10)
        let refused = ledger.refuse(Self.refusal("K1"), key: "K1", now: Self.t0)
        let event = try #require(refused)
        #expect(event.action == "peer.refused")
        #expect(event.subject == "key:K1")
        #expect(event.actor == "key:K1")
        #expect(event.result == .failure)
        #expect(event.at == Self.t0)
        #expect(event.reason == "connection to ingest refused: key not enrolled")
        #expect(
            event.details == .object(["domain": .string("ingest"), "count": .number(1), "windowSeconds": .number(60)])
        )
    }

    @Test func repeatsAreOneSummaryWhenTheWindowEnds() throws {
        var ledger = RefusalLedger(window: 60, maxKeys: 10)
        _ = ledger.refuse(Self.refusal("K1"), key: "K1", now: Self.t0)
        for second in 1...7 {
            #expect(ledger.refuse(Self.refusal("K1"), key: "K1", now: Self.at(Double(second))) == nil)
        }
        #expect(ledger.flush(now: Self.at(59.9)).isEmpty, "the window is not over")
        let flushed = ledger.flush(now: Self.at(60))
        let summary = try #require(flushed.first)
        #expect(summary.subject == "key:K1")
        #expect(summary.reason == "connection to ingest refused: key not enrolled (repeated 7 more times in 60 s)")
        #expect(summary.details?["count"] == .number(7))
        #expect(summary.at == Self.at(60))
    }

    @Test func aKeyRefusedOnceHasNoSummary() {
        var ledger = RefusalLedger(window: 60, maxKeys: 10)
        _ = ledger.refuse(Self.refusal("K1"), key: "K1", now: Self.t0)
        _ = ledger.refuse(Self.refusal("K2"), key: "K2", now: Self.t0)
        _ = ledger.refuse(Self.refusal("K2"), key: "K2", now: Self.t0)
        #expect(ledger.flush(now: Self.at(60)).map(\.subject) == ["key:K2"])
    }

    @Test func eachKindOfRefusalIsCountedApart() {
        var ledger = RefusalLedger(window: 60, maxKeys: 10)
        #expect(ledger.refuse(Self.refusal("K1"), key: "K1", now: Self.t0) != nil)
        #expect(ledger.refuse(Self.refusal("K1", action: "peer.throttled"), key: "K1", now: Self.t0) != nil)
        #expect(ledger.refuse(Self.refusal("K1", action: "peer.throttled"), key: "K1", now: Self.t0) == nil)
    }

    @Test func aNewWindowStartsAfresh() {
        var ledger = RefusalLedger(window: 60, maxKeys: 10)
        _ = ledger.refuse(Self.refusal("K1"), key: "K1", now: Self.t0)
        _ = ledger.flush(now: Self.at(60))
        #expect(
            ledger.refuse(Self.refusal("K1"), key: "K1", now: Self.at(61)) != nil,
            "the first refusal of the next window"
        )
        #expect(ledger.flush(now: Self.at(120)).isEmpty, "the window runs from its first refusal (61 s)")
        #expect(ledger.flush(now: Self.at(121)).isEmpty, "nothing repeated")
    }

    @Test func aFlushWithNothingRefusedIsEmpty() {
        var ledger = RefusalLedger()
        #expect(ledger.flush(now: Self.at(3_600)).isEmpty)
    }

    @Test func keysBeyondMaxKeysAreSummedIntoOneOverflowEvent() throws {
        var ledger = RefusalLedger(window: 60, maxKeys: 3)
        let immediate = (0..<10).compactMap { ledger.refuse(Self.refusal("K\($0)"), key: "K\($0)", now: Self.t0) }
        #expect(immediate.map(\.subject) == ["key:K0", "key:K1", "key:K2"])
        let flushed = ledger.flush(now: Self.at(60))
        let overflow = try #require(flushed.last)
        #expect(flushed.count == 1)
        #expect(overflow.action == "peer.refused")
        #expect(overflow.subject == "broker")
        #expect(overflow.actor == "system")
        #expect(overflow.details?["count"] == .number(7))
        #expect(overflow.reason == "7 more refusals from keys beyond the first 3 in 60 s")
    }

    /// A flood of 10,000 refusals from 5,000 keys costs at most 2 × maxKeys + 1 events per window.
    @Test func aFloodIsBoundedPerWindowWhateverItsSize() {
        let maxKeys = 200
        var ledger = RefusalLedger(window: 60, maxKeys: maxKeys)
        var events = 0
        for i in 0..<10_000 {
            let key = "K\(i % 5_000)"
            if ledger.refuse(Self.refusal(key), key: key, now: Self.at(Double(i) / 1_000)) != nil { events += 1 }
        }
        #expect(events == maxKeys)
        let flushed = ledger.flush(now: Self.at(60))
        #expect(flushed.count == maxKeys + 1, "a summary per tracked key (each repeated once) and one overflow")
        #expect(events + flushed.count <= 2 * maxKeys + 1)
        let counted = flushed.compactMap { $0.details?["count"]?.intValue }.reduce(0, +)
        #expect(counted + events == 10_000, "every refusal is accounted for")
    }
}
