import CapsuleAudit
import CapsuleDomain
import CapsuleProtocol
import CapsuleStore
import CapsuleTestSupport
import Foundation
import GRDB
import Testing

/// Runs `body` with a fresh AuditStore on `backend`, removed afterwards.
func withAuditStore<T>(_ backend: StoreBackend = .sqlite, _ body: (AuditStore, StoreFixture) throws -> T) throws -> T {
    try StoreFixture.with(backend) { fixture in
        let store = AuditStore(database: try fixture.open(AuditStore.schema))
        defer { store.database.close() }
        return try body(store, fixture)
    }
}

func event(
    _ publisher: String,
    _ seq: UInt64,
    at seconds: Double = 0,
    action: String = "service.transition",
    subject: String = "service:api",
    actor: String = "system",
    result: AuditResult = .success,
    reason: String? = nil
) -> AuditEvent {
    AuditEvent(
        publisher: publisher,
        seq: seq,
        at: now.addingTimeInterval(seconds),
        action: action,
        subject: subject,
        actor: actor,
        result: result,
        reason: reason ?? "\(publisher)#\(seq)"
    )
}

func filter(_ configure: (inout AuditFilter) -> Void) -> AuditFilter {
    var filter = AuditFilter()
    filter.limit = 1_000
    configure(&filter)
    return filter
}

struct AuditStoreInsertTests {
    @Test(arguments: StoreBackend.all)
    func outOfOrderAndDuplicatedEventsAreStoredOnceAndTheCursorFollowsTheContiguousPrefix(backend: StoreBackend) throws
    {
        try withAuditStore(backend) { store, _ throws in
            #expect(try store.insert([event("broker", 3), event("broker", 1)]) == ["broker": 1])
            #expect(try store.insert([event("broker", 2), event("broker", 2), event("broker", 3)]) == ["broker": 3])
            #expect(
                try store.insert([event("broker", 5), event("aggregator", 2)]) == ["broker": 3, "aggregator": 0],
                "gaps hold the cursor"
            )
            #expect(
                try store.insert([event("broker", 4), event("aggregator", 1), event("aggregator", 1)]) == [
                    "broker": 5, "aggregator": 2,
                ]
            )
            #expect(
                try store.insert([event("broker", 1), event("broker", 5)]) == ["broker": 5],
                "replays change nothing"
            )
            #expect(try store.cursors() == ["broker": 5, "aggregator": 2])

            let all = try store.query(filter { $0.ascending = true })
            let keys = all.map { "\($0.event.publisher)#\($0.event.seq)" }
            #expect(keys.count == 7)
            #expect(Set(keys).count == keys.count, "each (publisher, seq) exactly once: \(keys)")
            #expect(
                Set(keys) == [
                    "broker#1", "broker#2", "broker#3", "broker#4", "broker#5", "aggregator#1", "aggregator#2",
                ]
            )
            #expect(all.map(\.id) == all.map(\.id).sorted())
        }
    }

    @Test(arguments: StoreBackend.all) func aReplayedEventKeepsTheFirstCopy(backend: StoreBackend) throws {
        try withAuditStore(backend) { store, _ throws in
            try store.insert([event("broker", 1, reason: "original")])
            try store.insert([event("broker", 1, reason: "replayed with other content")])
            let stored = try store.query(filter { _ in })
            #expect(stored.map(\.event.reason) == ["original"])
        }
    }

    /// PostgreSQL stores batches with COPY's text format, where a backslash, a tab or a newline would
    /// otherwise end a value or a row, and `\\N` means NULL: text holding them reads back as written.
    @Test(arguments: StoreBackend.all) func textThatCopyMustEscapeReadsBackAsWritten(backend: StoreBackend) throws {
        try withAuditStore(backend) { store, _ throws in
            let json =
                #"{"publisher":"broker","seq":1,"at":0,"action":"service.transition","subject":"service:a\\N","actor":"system","result":"SUCCESS","reason":"tab\there\nnew line\r\\N back\\slash é","details":{"path":"C:\\temp\\x","n":1.5}}"#
            let decoded = try WireCodec.fromJSON(AuditEvent.self, Data(json.utf8))
            try store.insert([decoded, event("broker", 2)])
            let rows = try store.database.read { db in
                try SQLRow.fetchAll(
                    db,
                    sql: "SELECT seq, subject, reason, details, fromStatus FROM audit_event ORDER BY seq"
                )
            }
            #expect(rows.map { $0["seq"] as Int } == [1, 2])
            #expect(rows.first?["reason"] == "tab\there\nnew line\r\\N back\\slash é")
            #expect(rows.first?["subject"] == "service:a\\N")
            let details = try JSONValue.parse(try #require(rows.first?["details"] as String?))
            #expect(details["path"] == .string("C:\\temp\\x"))
            #expect(details["n"] == .number(1.5))
            #expect(rows.last?.value("fromStatus") == .null, "an absent value stays NULL")
        }
    }

    @Test(arguments: StoreBackend.all) func insertingNothingReturnsNoCursors(backend: StoreBackend) throws {
        try withAuditStore(backend) { store, _ throws in
            #expect(try store.insert([]) == [:])
            #expect(try store.cursors().isEmpty)
        }
    }

    @Test(arguments: StoreBackend.all) func cursorsSurviveARestart(backend: StoreBackend) throws {
        try StoreFixture.with(backend) { fixture in
            do {
                let store = AuditStore(database: try fixture.open(AuditStore.schema))
                try store.insert([event("broker", 1), event("broker", 2), event("broker", 4)])
                store.database.close()
            }
            let reopened = AuditStore(database: try fixture.open(AuditStore.schema))
            defer { reopened.database.close() }
            #expect(try reopened.cursors() == ["broker": 2])
            #expect(try reopened.insert([event("broker", 3)]) == ["broker": 4])
        }
    }

    /// An event that reaches the store without passing through AuditEvent.init (decoded from the wire)
    /// is still redacted before it is written.
    @Test(arguments: StoreBackend.all) func detailsAreRedactedOnInsert(backend: StoreBackend) throws {
        try withAuditStore(backend) { store, _ throws in
            let json =
                #"{"publisher":"broker","seq":1,"at":0,"action":"command.created","subject":"command:1","actor":"operator:ann","result":"SUCCESS","details":{"payload":{"password":"hunter2","n":1}}}"#
            let decoded = try WireCodec.fromJSON(AuditEvent.self, Data(json.utf8))
            #expect(decoded.details?["payload"]?["password"] == .string("hunter2"), "decoding bypasses the initializer")
            try store.insert([decoded])

            let raw = try store.database.read { db in try String.fetchOne(db, sql: "SELECT details FROM audit_event") }
            #expect(raw?.contains("hunter2") == false)
            let stored = try store.query(filter { _ in })
            #expect(stored.first?.event.details?["payload"]?["password"] == .string(Redactor.placeholder))
            #expect(stored.first?.event.details?["payload"]?["n"] == .number(1))
        }
    }
}

struct AuditStoreQueryTests {
    /// Ten events from two publishers, one per second.
    static let events: [AuditEvent] = [
        event("broker", 1, at: 0, action: "agent.registered", subject: "agent:agt_1", actor: "agent:edge-1"),
        event("broker", 2, at: 1, action: "command.created", subject: "command:c1", actor: "operator:ann"),
        event("broker", 3, at: 2, action: "command.running", subject: "command:c1", actor: "agent:agt_1"),
        event("aggregator", 1, at: 3, action: "service.transition", subject: "service:api", actor: "system"),
        event(
            "broker",
            4,
            at: 4,
            action: "command.failed",
            subject: "command:c1",
            actor: "agent:agt_1",
            result: .failure
        ),
        event(
            "broker",
            5,
            at: 5,
            action: "command.rejected",
            subject: "command:c1",
            actor: "agent:agt_1",
            result: .failure
        ),
        event("aggregator", 2, at: 6, action: "agent.transition", subject: "agent:agt_1", actor: "system"),
        event(
            "broker",
            6,
            at: 7,
            action: "operator.denied",
            subject: "broker:command.create",
            actor: "operator:bob",
            result: .failure
        ),
        event("broker", 7, at: 8, action: "commander.x", subject: "x", actor: "system"),
        event("aggregator", 3, at: 9, action: "service.transition", subject: "service:api", actor: "system"),
    ]

    func seeded<T>(_ backend: StoreBackend, _ body: (AuditStore) throws -> T) throws -> T {
        try withAuditStore(backend) { store, _ throws in
            try store.insert(Self.events)
            return try body(store)
        }
    }

    /// "publisher#seq" of the matches, oldest first.
    func matches(_ store: AuditStore, _ configure: (inout AuditFilter) -> Void) throws -> [String] {
        try store.query(
            filter {
                $0.ascending = true
                configure(&$0)
            }
        ).map { "\($0.event.publisher)#\($0.event.seq)" }
    }

    @Test(arguments: StoreBackend.all) func bySubject(backend: StoreBackend) throws {
        try seeded(backend) { store throws in
            #expect(
                try matches(store) { $0.subject = "command:c1" } == ["broker#2", "broker#3", "broker#4", "broker#5"]
            )
            #expect(try matches(store) { $0.subject = "command:" }.isEmpty, "subject is exact")
        }
    }

    @Test(arguments: StoreBackend.all) func byExactAction(backend: StoreBackend) throws {
        try seeded(backend) { store throws in
            #expect(try matches(store) { $0.action = "command.created" } == ["broker#2"])
            #expect(try matches(store) { $0.action = "command" }.isEmpty, "no implicit prefix")
        }
    }

    @Test(arguments: StoreBackend.all, ["command.", "command.*"])
    func byActionPrefix(backend: StoreBackend, _ prefix: String) throws {
        try seeded(backend) { store throws in
            #expect(
                try matches(store) { $0.action = prefix } == ["broker#2", "broker#3", "broker#4", "broker#5"],
                "command. must not match commander.x"
            )
        }
    }

    @Test(arguments: StoreBackend.all) func byActorAndResult(backend: StoreBackend) throws {
        try seeded(backend) { store throws in
            #expect(try matches(store) { $0.actor = "agent:agt_1" } == ["broker#3", "broker#4", "broker#5"])
            #expect(try matches(store) { $0.result = .failure } == ["broker#4", "broker#5", "broker#6"])
            #expect(
                try matches(store) {
                    $0.actor = "agent:agt_1"
                    $0.result = .failure
                    $0.action = "command.failed"
                } == ["broker#4"]
            )
        }
    }

    @Test(arguments: StoreBackend.all) func bySinceAndUntilInclusive(backend: StoreBackend) throws {
        try seeded(backend) { store throws in
            #expect(
                try matches(store) { $0.since = now.addingTimeInterval(7) } == ["broker#6", "broker#7", "aggregator#3"]
            )
            #expect(try matches(store) { $0.until = now.addingTimeInterval(1) } == ["broker#1", "broker#2"])
            #expect(
                try matches(store) {
                    $0.since = now.addingTimeInterval(3)
                    $0.until = now.addingTimeInterval(4)
                }
                    == ["aggregator#1", "broker#4"]
            )
        }
    }

    @Test(arguments: StoreBackend.all) func afterIdAscendingFollowsNewRows(backend: StoreBackend) throws {
        try seeded(backend) { store throws in
            let all = try store.query(filter { $0.ascending = true })
            #expect(all.count == Self.events.count)
            let cut = all[6].id
            let newer = try store.query(
                filter {
                    $0.afterId = cut
                    $0.ascending = true
                }
            )
            #expect(newer.map(\.id) == Array(all.dropFirst(7)).map(\.id))
            #expect(newer.allSatisfy { $0.id > cut })

            try store.insert([event("broker", 8, at: 10)])
            let followed = try store.query(
                filter {
                    $0.afterId = all.last!.id
                    $0.ascending = true
                }
            )
            #expect(followed.map { $0.event.seq } == [8])
        }
    }

    @Test(arguments: StoreBackend.all) func newestFirstByDefaultAndLimited(backend: StoreBackend) throws {
        try seeded(backend) { store throws in
            var newest = AuditFilter()
            newest.limit = 3
            let records = try store.query(newest)
            #expect(
                records.map { "\($0.event.publisher)#\($0.event.seq)" } == ["aggregator#3", "broker#7", "broker#6"]
            )
            #expect(try store.query(AuditFilter()).count == Self.events.count, "default limit is 100")
            var zero = AuditFilter()
            zero.limit = 0
            #expect(try store.query(zero).count == 1, "the limit is clamped to at least 1")
        }
    }

    @Test(arguments: StoreBackend.all) func recordsRoundTripTheEvent(backend: StoreBackend) throws {
        try seeded(backend) { store throws in
            let record = try #require(try store.query(filter { $0.subject = "broker:command.create" }).first)
            #expect(record.event == Self.events[7])
        }
    }
}

struct AuditStoreMigrationTests {
    @Test func databaseAtV1OpensWithTheCurrentStore() throws {
        try withTemporaryDirectory { dir in
            let url = dir.appendingPathComponent("audit.sqlite")
            let queue = try DatabaseQueue(path: url.path)
            try AuditStore.migrator.migrate(queue, upTo: "v1")
            try queue.write { db in
                try db.execute(
                    sql: """
                        INSERT INTO audit_event (publisher, seq, at, action, subject, actor, result)
                        VALUES ('broker', 1, 0, 'agent.registered', 'agent:a', 'system', 'SUCCESS')
                        """
                )
                try db.execute(sql: "INSERT INTO publisher_cursor (publisher, lastSeq) VALUES ('broker', 1)")
            }
            try queue.close()

            let store = try AuditStore(url: url)
            let schema = try (store.database as! SQLiteStore).pool.read { db in
                (
                    missing: try ["audit_event", "journal_cursor"].filter { try !db.tableExists($0) },
                    completed: try AuditStore.migrator.hasCompletedMigrations(db),
                    applied: try AuditStore.migrator.appliedIdentifiers(db)
                )
            }
            #expect(schema.missing.isEmpty)
            #expect(schema.completed)
            #expect(schema.applied == Set(AuditStore.migrator.migrations))
            #expect(try store.cursors() == ["broker": 1])
            #expect(try store.insert([event("broker", 2)]) == ["broker": 2])
        }
    }
}

struct AuditStoreRetentionAndPagingTests {
    @Test(arguments: StoreBackend.all) func retentionDeletesOnlyOlderEvents(backend: StoreBackend) throws {
        try withAuditStore(backend) { store, _ in
            try store.insert([event("broker", 1, at: -100 * 86_400), event("broker", 2, at: -10), event("broker", 3)])
            #expect(try store.prune(olderThan: now.addingTimeInterval(-90 * 86_400), retentionDays: 90, now: now) == 1)
            #expect(try store.query(filter { $0.subject = "service:api" }).map(\.event.seq).sorted() == [2, 3])
            // The deletion itself is on record.
            let record = try #require(try store.query(filter { $0.action = "audit.retention_applied" }).first)
            #expect(record.event.publisher == AuditStore.ownPublisher)
            #expect(record.event.details?["removed"] == .number(1))
            #expect(try store.cursors()["broker"] == 3, "pruning never moves the cursor back")
        }
    }

    @Test(arguments: StoreBackend.all) func pagesWalkBothWaysWithoutOverlap(backend: StoreBackend) throws {
        try withAuditStore(backend) { store, _ in
            try store.insert((1...25).map { event("broker", UInt64($0), at: Double($0)) })
            var newestFirst: [UInt64] = []
            var page = filter { $0.limit = 10 }
            while true {
                let records = try store.query(page)
                newestFirst += records.map(\.event.seq)
                guard records.count == 10, let last = records.last?.id else { break }
                page.beforeId = last
            }
            #expect(newestFirst == (1...25).reversed().map(UInt64.init))
            let ascending = try store.query(
                filter {
                    $0.ascending = true
                    $0.afterId = 20
                }
            )
            #expect(ascending.map(\.event.seq) == [21, 22, 23, 24, 25])
        }
    }

    @Test(arguments: StoreBackend.all) func backupIsAReadableCopy(backend: StoreBackend) throws {
        try withAuditStore(backend) { store, fixture in
            try store.insert([event("broker", 1), event("broker", 2)])
            let copy = fixture.directory.appendingPathComponent("backup.sqlite").path
            _ = FileManager.default.createFile(atPath: copy, contents: nil)
            guard backend == .sqlite else {
                // PostgreSQL is backed up with pg_dump (docs/deployment.md); the operation says so.
                #expect(throws: StoreError.self) { try store.backup(into: copy) }
                return
            }
            #expect(try store.backup(into: copy) > 0)
            #expect(try AuditStore(url: URL(fileURLWithPath: copy)).query(filter { _ in }).count == 2)
        }
    }

    /// Design §6: a publisher whose store was reset starts a new incarnation, and its new events
    /// are stored although their sequence numbers were seen before.
    @Test(arguments: StoreBackend.all) func aNewIncarnationIsStoredBesideTheOld(backend: StoreBackend) throws {
        try withAuditStore(backend) { store, _ in
            try store.insert([event("broker", 1), event("broker", 2)])
            var fresh = event("broker", 1, reason: "after the reset")
            fresh.incarnation = "inc_new"
            let cursors = try store.insert([fresh])
            #expect(cursors == [JournalKey(publisher: "broker", incarnation: "inc_new"): 1])
            #expect(try store.query(filter { _ in }).map(\.event.reason).contains("after the reset"))
            #expect(try store.cursors() == ["broker": 2, JournalKey(publisher: "broker", incarnation: "inc_new"): 1])
        }
    }
}
