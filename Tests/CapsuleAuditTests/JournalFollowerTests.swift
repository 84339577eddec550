import CapsuleDomain
import CapsuleProtocol
import Foundation
import Testing

@testable import CapsuleAudit

private let t0 = Date(timeIntervalSince1970: 1_700_000_000)
private func at(_ seconds: Double) -> Date { t0.addingTimeInterval(seconds) }

private func event(_ publisher: String, _ seq: UInt64, incarnation: String = "i1") -> AuditEvent {
    AuditEvent(
        publisher: publisher,
        incarnation: incarnation,
        seq: seq,
        at: t0,
        action: "agent.disabled",
        subject: "agent:agt_1",
        actor: "operator:alice"
    )
}

private func key(_ publisher: String, _ incarnation: String = "i1") -> JournalKey {
    JournalKey(publisher: publisher, incarnation: incarnation)
}

/// A follower that has stored the broker's journal `i1` up to 10 and the aggregator's `a1` up to 4.
private func follower(ackInterval: TimeInterval = 1) -> JournalFollower {
    JournalFollower(
        cursors: [key("broker"): 10, key("aggregator", "a1"): 4],
        current: ["broker": "i1", "aggregator": "a1"],
        ackInterval: ackInterval
    )
}

struct JournalFollowerStartTests {
    @Test func startAsksEveryKnownPublisherForWhatItMissed() {
        var follower = follower()
        #expect(
            follower.start() == [
                .replay(publisher: "aggregator", after: 4, incarnation: "a1"),
                .replay(publisher: "broker", after: 10, incarnation: "i1"),
            ]
        )
    }

    @Test func aReplayInFlightIsNotAskedForTwice() {
        var follower = follower()
        _ = follower.start()
        #expect(follower.start().isEmpty)
        #expect(follower.beacon(Beacon(publisher: "broker", incarnation: "i1", lastSeq: 50), now: t0).isEmpty)
        #expect(follower.stored(updated: [key("broker"): 11], highest: [key("broker"): 20]).isEmpty)
    }

    @Test func aFreshStoreKnowsNobodyAndAsksNothing() {
        var follower = JournalFollower(cursors: [:], current: [:])
        #expect(follower.start().isEmpty)
    }
}

struct JournalFollowerLiveTests {
    @Test func liveEventsAboveTheCursorAreStoredInOrder() {
        var follower = follower()
        let actions = follower.received([
            event("broker", 11), event("broker", 12), event("aggregator", 5, incarnation: "a1"),
        ])
        #expect(
            actions == [.store([event("broker", 11), event("broker", 12), event("aggregator", 5, incarnation: "a1")])]
        )
    }

    @Test func eventsAtOrBelowTheCursorAndFromUnknownPublishersAreDropped() {
        var follower = follower()
        let actions = follower.received([
            event("broker", 9), event("broker", 10), event("broker", 11), event("audit", 100), event("mallory", 1),
            event("aggregator", 4, incarnation: "a1"),
        ])
        #expect(actions == [.store([event("broker", 11)])])
        #expect(follower.received([event("broker", 3), event("intruder", 50)]).isEmpty)
    }

    @Test func anEventOfANewIncarnationMakesItCurrentFromZero() {
        var follower = follower()
        let actions = follower.received([event("broker", 1, incarnation: "i2")])
        #expect(actions == [.store([event("broker", 1, incarnation: "i2")])])
        #expect(follower.current["broker"] == "i2")
        #expect(follower.cursors[key("broker", "i2")] == 0)
        #expect(follower.cursors[key("broker")] == 10, "the old incarnation's position is kept")
    }

    @Test func aGapAfterAStoreAsksForAReplayFromTheCursor() {
        var follower = follower()
        let actions = follower.stored(updated: [key("broker"): 12], highest: [key("broker"): 15])
        #expect(actions == [.replay(publisher: "broker", after: 12, incarnation: "i1")])
        #expect(follower.cursors[key("broker")] == 12)
    }

    @Test func aContiguousStoreAsksNothing() {
        var follower = follower()
        #expect(follower.stored(updated: [key("broker"): 15], highest: [key("broker"): 15]).isEmpty)
        #expect(follower.cursors[key("broker")] == 15)
    }

    @Test func aCursorNeverMovesBack() {
        var follower = follower()
        _ = follower.stored(updated: [key("broker"): 3], highest: [key("broker"): 3])
        #expect(follower.cursors[key("broker")] == 10)
    }

    @Test func aGapInAnOldIncarnationIsNotReplayed() {
        var follower = follower()
        _ = follower.received([event("broker", 1, incarnation: "i2")])
        #expect(follower.stored(updated: [key("broker"): 11], highest: [key("broker"): 13]).isEmpty)
    }
}

struct JournalFollowerBeaconTests {
    @Test func aBeaconAheadAsksForAReplayOneAtATime() {
        var follower = follower()
        #expect(
            follower.beacon(Beacon(publisher: "broker", incarnation: "i1", lastSeq: 12), now: t0)
                == [.replay(publisher: "broker", after: 10, incarnation: "i1")]
        )
        #expect(follower.beacon(Beacon(publisher: "broker", incarnation: "i1", lastSeq: 13), now: at(1)).isEmpty)
        // Other publishers are not held up by the broker's replay.
        #expect(
            follower.beacon(Beacon(publisher: "aggregator", incarnation: "a1", lastSeq: 6), now: at(1))
                == [.replay(publisher: "aggregator", after: 4, incarnation: "a1")]
        )
    }

    @Test func aFailedReplayMayBeAskedAgain() {
        var follower = follower()
        _ = follower.beacon(Beacon(publisher: "broker", incarnation: "i1", lastSeq: 12), now: t0)
        follower.replayFailed("broker")
        #expect(
            follower.beacon(Beacon(publisher: "broker", incarnation: "i1", lastSeq: 12), now: at(1))
                == [.replay(publisher: "broker", after: 10, incarnation: "i1")]
        )
    }

    @Test func aBeaconAtTheCursorAsksNothing() {
        var follower = follower()
        #expect(follower.beacon(Beacon(publisher: "broker", incarnation: "i1", lastSeq: 10), now: t0).isEmpty)
    }

    /// The publisher holds less than was stored from it: its store was restored from an older copy.
    @Test func aBeaconBehindTheCursorIsAnsweredWithAnAcknowledgementAtMostEveryFiveSeconds() {
        var follower = follower()
        let behind = Beacon(publisher: "broker", incarnation: "i1", lastSeq: 7)
        #expect(follower.beacon(behind, now: t0) == [.acknowledge(publisher: "broker", upTo: 10, incarnation: "i1")])
        #expect(follower.beacon(behind, now: at(1)).isEmpty)
        #expect(follower.beacon(behind, now: at(4.9)).isEmpty)
        #expect(follower.beacon(behind, now: at(5)) == [.acknowledge(publisher: "broker", upTo: 10, incarnation: "i1")])
        // The probe clock is per publisher.
        #expect(
            follower.beacon(Beacon(publisher: "aggregator", incarnation: "a1", lastSeq: 1), now: at(5))
                == [.acknowledge(publisher: "aggregator", upTo: 4, incarnation: "a1")]
        )
    }

    @Test func aBeaconOfANewIncarnationMakesItCurrentAndReplaysItFromZero() {
        var follower = follower()
        #expect(
            follower.beacon(Beacon(publisher: "broker", incarnation: "i2", lastSeq: 3), now: t0)
                == [.replay(publisher: "broker", after: 0, incarnation: "i2")]
        )
        #expect(follower.current["broker"] == "i2")
        #expect(follower.cursors[key("broker", "i2")] == 0)
    }

    @Test func aBeaconWithoutIncarnationIsTheLegacyJournal() {
        var follower = JournalFollower(cursors: [JournalKey(publisher: "broker"): 5], current: ["broker": ""])
        #expect(
            follower.beacon(Beacon(publisher: "broker", lastSeq: 6), now: t0) == [
                .replay(publisher: "broker", after: 5, incarnation: "")
            ]
        )
    }

    @Test func aBeaconFromAnUnknownPublisherIsIgnored() {
        var follower = follower()
        #expect(follower.beacon(Beacon(publisher: "mallory", incarnation: "x", lastSeq: 1_000), now: t0).isEmpty)
        #expect(follower.current["mallory"] == nil)
    }
}

struct JournalFollowerReplayTests {
    @Test func theNextPageIsAskedForBeforeAReplayedPageIsStored() {
        var follower = follower()
        _ = follower.start()
        let page = JournalPage(
            incarnation: "i1",
            lastSeq: 40,
            events: [event("broker", 11), event("broker", 12), event("broker", 13)]
        )
        #expect(
            follower.replayed("broker", page: page) == [
                .replay(publisher: "broker", after: 13, incarnation: "i1"),
                .store([event("broker", 11), event("broker", 12), event("broker", 13)]),
            ]
        )
        // The pipelined request is in flight: a beacon does not ask again.
        #expect(follower.beacon(Beacon(publisher: "broker", incarnation: "i1", lastSeq: 40), now: t0).isEmpty)
    }

    @Test func anEmptyPageEndsTheReplay() {
        var follower = follower()
        _ = follower.start()
        #expect(follower.replayed("broker", page: JournalPage(incarnation: "i1", lastSeq: 10, events: [])).isEmpty)
        #expect(
            follower.beacon(Beacon(publisher: "broker", incarnation: "i1", lastSeq: 11), now: t0)
                == [.replay(publisher: "broker", after: 10, incarnation: "i1")],
            "a later beacon may start another"
        )
    }

    @Test func eventsOfAnotherPublisherOrIncarnationInAPageAreDropped() {
        var follower = follower()
        let page = JournalPage(
            incarnation: "i1",
            lastSeq: 12,
            events: [
                event("broker", 11), event("aggregator", 11, incarnation: "i1"), event("broker", 12, incarnation: "i0"),
            ]
        )
        #expect(
            follower.replayed("broker", page: page) == [
                .replay(publisher: "broker", after: 11, incarnation: "i1"), .store([event("broker", 11)]),
            ]
        )
    }

    @Test func aPageOfANewIncarnationMakesItCurrent() {
        var follower = follower()
        let page = JournalPage(incarnation: "i2", lastSeq: 2, events: [event("broker", 1, incarnation: "i2")])
        #expect(
            follower.replayed("broker", page: page) == [
                .replay(publisher: "broker", after: 1, incarnation: "i2"),
                .store([event("broker", 1, incarnation: "i2")]),
            ]
        )
        #expect(follower.current["broker"] == "i2")
    }
}

/// After the audit store was reset or restored, the journal no longer holds what the store lost.
struct JournalFollowerHoleTests {
    @Test func aPageThatSaysTheJournalPrunedPastTheCursorSkipsTheHoleThenStoresWhatFollows() {
        var follower = JournalFollower(cursors: [:], current: [:])
        let page = JournalPage(
            incarnation: "i1",
            lastSeq: 12,
            events: [event("broker", 11), event("broker", 12)],
            prunedThrough: 10
        )
        #expect(
            follower.replayed("broker", page: page) == [
                .skip(key("broker"), from: 1, through: 10),
                .replay(publisher: "broker", after: 12, incarnation: "i1"),
                .store([event("broker", 11), event("broker", 12)]),
            ]
        )
        #expect(follower.cursors[key("broker")] == 10)
    }

    @Test func aPrunedPointAtOrBelowTheCursorIsNoHole() {
        var follower = follower()
        let page = JournalPage(incarnation: "i1", lastSeq: 11, events: [event("broker", 11)], prunedThrough: 10)
        #expect(
            follower.replayed("broker", page: page) == [
                .replay(publisher: "broker", after: 11, incarnation: "i1"),
                .store([event("broker", 11)]),
            ]
        )
    }

    @Test func anEmptyPageCanStillCarryTheHole() {
        var follower = JournalFollower(cursors: [key("broker"): 3], current: ["broker": "i1"])
        #expect(
            follower.replayed("broker", page: JournalPage(incarnation: "i1", lastSeq: 9, events: [], prunedThrough: 9))
                == [
                    .skip(key("broker"), from: 4, through: 9)
                ]
        )
    }
}

struct JournalFollowerAckTests {
    @Test func nothingIsAcknowledgedUntilACursorMoves() {
        var follower = follower()
        #expect(follower.tick(now: t0).isEmpty)
        #expect(follower.tick(now: at(10)).isEmpty)
    }

    @Test func movedCursorsAreAcknowledgedAboutOncePerInterval() {
        var follower = follower()
        _ = follower.stored(updated: [key("broker"): 12, key("aggregator", "a1"): 6], highest: [:])
        #expect(
            follower.tick(now: t0) == [
                .acknowledge(publisher: "aggregator", upTo: 6, incarnation: "a1"),
                .acknowledge(publisher: "broker", upTo: 12, incarnation: "i1"),
            ]
        )
        _ = follower.stored(updated: [key("broker"): 14], highest: [:])
        #expect(follower.tick(now: at(0.5)).isEmpty, "within the interval")
        #expect(
            follower.tick(now: at(1)) == [.acknowledge(publisher: "broker", upTo: 14, incarnation: "i1")],
            "only the cursor that moved"
        )
        #expect(follower.tick(now: at(2)).isEmpty, "an acknowledged cursor is not acknowledged again")
    }

    @Test func theIntervalIsConfigurable() {
        var follower = follower(ackInterval: 10)
        _ = follower.stored(updated: [key("broker"): 11], highest: [:])
        #expect(!follower.tick(now: t0).isEmpty)
        _ = follower.stored(updated: [key("broker"): 12], highest: [:])
        #expect(follower.tick(now: at(9)).isEmpty)
        #expect(follower.tick(now: at(10)) == [.acknowledge(publisher: "broker", upTo: 12, incarnation: "i1")])
    }

    @Test func onlyTheCurrentIncarnationIsAcknowledged() {
        var follower = follower()
        _ = follower.received([event("broker", 1, incarnation: "i2")])
        _ = follower.stored(updated: [key("broker"): 11, key("broker", "i2"): 1], highest: [:])
        #expect(follower.tick(now: t0) == [.acknowledge(publisher: "broker", upTo: 1, incarnation: "i2")])
    }
}
