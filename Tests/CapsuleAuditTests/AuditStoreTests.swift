import CapsuleAudit
import CapsuleDomain
import CapsuleProtocol
import CapsuleStore
import Foundation
import Testing

// More of AuditStore (Tests/CapsuleStoreTests/AuditStoreTests.swift has inserts, queries, retention
// and paging): which incarnation is current, the audit writer's own events, and row ids.

private let t0 = Date(timeIntervalSince1970: 1_700_000_000)

private func withStore<T>(_ body: (AuditStore) throws -> T) throws -> T {
    try withFolder { folder in try body(try AuditStore(url: folder.appendingPathComponent("audit.sqlite"))) }
}

private func event(
    _ publisher: String,
    _ seq: UInt64,
    incarnation: String = "",
    at seconds: Double = 0,
    action: String = "agent.disabled"
) -> AuditEvent {
    AuditEvent(
        publisher: publisher,
        incarnation: incarnation,
        seq: seq,
        at: t0.addingTimeInterval(seconds),
        action: action,
        subject: "agent:agt_1",
        actor: "operator:alice"
    )
}

struct AuditStoreIncarnationTests {
    @Test func theCurrentIncarnationIsTheOneSeenLast() throws {
        try withStore { store in
            try store.insert([event("broker", 1, incarnation: "i1")], now: t0)
            try store.insert([event("aggregator", 1, incarnation: "a1")], now: t0.addingTimeInterval(1))
            try store.insert([event("broker", 1, incarnation: "i2")], now: t0.addingTimeInterval(2))
            #expect(try store.currentIncarnations() == ["broker": "i2", "aggregator": "a1"])
        }
    }

    @Test func followingANewIncarnationMakesItCurrentAtZero() throws {
        try withStore { store in
            try store.insert([event("broker", 1, incarnation: "i1"), event("broker", 2, incarnation: "i1")], now: t0)
            try store.follow(JournalKey(publisher: "broker", incarnation: "i2"), now: t0.addingTimeInterval(5))
            #expect(try store.currentIncarnations() == ["broker": "i2"])
            #expect(
                try store.cursors() == [
                    JournalKey(publisher: "broker", incarnation: "i1"): 2,
                    JournalKey(publisher: "broker", incarnation: "i2"): 0,
                ]
            )
        }
    }

    @Test func followingAKnownIncarnationKeepsItsCursor() throws {
        try withStore { store in
            try store.insert([event("broker", 1, incarnation: "i1")], now: t0)
            try store.insert([event("broker", 1, incarnation: "i2")], now: t0.addingTimeInterval(1))
            try store.follow(JournalKey(publisher: "broker", incarnation: "i1"), now: t0.addingTimeInterval(2))
            #expect(try store.currentIncarnations() == ["broker": "i1"])
            #expect(try store.cursors()[JournalKey(publisher: "broker", incarnation: "i1")] == 1)
        }
    }
}

struct AuditStoreOwnEventTests {
    @Test func ownEventsAreNumberedAfterTheLastAndBelongToTheAuditWriter() throws {
        try withStore { store in
            try store.insert([event("broker", 1), event("broker", 2)], now: t0)
            let (first, second) = try store.database.write { db in
                (
                    try AuditStore.appendOwn(db, event("broker", 99, incarnation: "x"), now: t0),
                    try AuditStore.appendOwn(db, event("whoever", 0), now: t0)
                )
            }
            #expect(first.publisher == AuditStore.ownPublisher && first.incarnation == "" && first.seq == 1)
            #expect(second.seq == 2)
            #expect(try store.cursors()[JournalKey(publisher: AuditStore.ownPublisher)] == 2)
            #expect(try store.cursors()[JournalKey(publisher: "broker")] == 2, "other journals are untouched")
            #expect(first.seq == 1, "numbered in its own journal, not after the broker's")
        }
    }

    @Test func pruningNothingRecordsNothing() throws {
        try withStore { store in
            try store.insert([event("broker", 1, at: 0)], now: t0)
            #expect(try store.prune(olderThan: t0.addingTimeInterval(-1), retentionDays: 30, now: t0) == 0)
            var all = AuditFilter()
            all.limit = 100
            #expect(try store.query(all).map(\.event.publisher) == ["broker"])
        }
    }

    @Test func theRecordOfAPruneOutlivesLaterPrunes() throws {
        try withStore { store in
            try store.insert([event("broker", 1, at: 0), event("broker", 2, at: 100)], now: t0)
            #expect(
                try store.prune(olderThan: t0.addingTimeInterval(50), retentionDays: 1, now: t0.addingTimeInterval(10))
                    == 1
            )
            // Everything is old now, the first record of deletion included; only the broker's event goes.
            #expect(
                try store.prune(
                    olderThan: t0.addingTimeInterval(10_000),
                    retentionDays: 1,
                    now: t0.addingTimeInterval(20_000)
                ) == 1
            )
            var own = AuditFilter()
            own.action = "audit.retention_applied"
            own.ascending = true
            let records = try store.query(own)
            #expect(records.map(\.event.seq) == [1, 2])
            #expect(records.allSatisfy { $0.event.publisher == AuditStore.ownPublisher })
            #expect(records.first?.event.reason == "deleted 1 events older than 1 days")
        }
    }
}

struct AuditStoreRowIdTests {
    @Test func lastIdIsZeroWhenEmptyThenTheHighestRow() throws {
        try withStore { store in
            #expect(try store.lastId() == 0)
            try store.insert([event("broker", 1), event("broker", 2), event("broker", 2)], now: t0)
            #expect(try store.lastId() == 2, "a duplicate takes no row")
            var all = AuditFilter()
            all.ascending = true
            #expect(try store.query(all).map(\.id) == [1, 2])
        }
    }

    @Test func anActionPrefixTakesUnderscoreAndBracketLiterally() throws {
        try withStore { store in
            try store.insert(
                [
                    event("broker", 1, action: "agent_token.rejected"),
                    event("broker", 2, action: "agentXtoken.rejected"),
                    event("broker", 3, action: "a[b].x"), event("broker", 4, action: "ab.x"),
                ],
                now: t0
            )
            var filter = AuditFilter()
            filter.ascending = true
            filter.action = "agent_token."
            #expect(try store.query(filter).map(\.event.seq) == [1])
            filter.action = "a[b]*"
            #expect(try store.query(filter).map(\.event.seq) == [3])
        }
    }
}

struct AuditStoreHoleTests {
    @Test func skippingAHoleMovesTheCursorOverItAndWhatIsStoredAboveAndRecordsItOnce() throws {
        try withStore { store in
            let key = JournalKey(publisher: "broker", incarnation: "i1")
            // Events 6 and 7 arrived after the reset; 1-5 were pruned before this store held them.
            let cursors = try store.insert(
                [event("broker", 6, incarnation: "i1"), event("broker", 7, incarnation: "i1")],
                now: t0
            )
            #expect(cursors[key] == 0)
            #expect(try store.skip(key, from: 1, through: 5, now: t0) == 7)
            #expect(try store.cursors()[key] == 7)
            var filter = AuditFilter()
            filter.action = "audit.journal_hole"
            let holes = try store.query(filter)
            #expect(holes.count == 1)
            #expect(holes.first?.event.details?["missing"] == .number(5))
            #expect(holes.first?.event.result == .failure)
        }
    }
}

struct AuditStoreWriterTests {
    /// The writer's connection checkpoints every 64 MB of WAL and caches 64 MB of pages; readers keep
    /// SQLite's defaults (docs/decisions.md, "The audit writer's SQLite connection").
    @Test func theWriterConnectionIsTunedAndReadersAreNot() throws {
        try withStore { store in
            let writer = try store.database.write { db in
                (
                    try Int.fetchOne(db, sql: "PRAGMA wal_autocheckpoint", arguments: []),
                    try Int.fetchOne(db, sql: "PRAGMA cache_size", arguments: [])
                )
            }
            #expect(writer.0 == 16_384 && writer.1 == -65_536)
            let reader = try store.database.read { db in try Int.fetchOne(db, sql: "PRAGMA cache_size", arguments: []) }
            #expect(reader != -65_536)
        }
    }
}
