import CapsuleDomain
import CapsuleProtocol
import CapsuleStore
import CapsuleTestSupport
import Foundation
import GRDB
import Testing

struct EventJournalTests {
    func event(_ index: Int, details: JSONValue? = nil) -> AuditEvent {
        AuditEvent(
            publisher: "ignored",
            seq: 999,
            at: now,
            action: "test.event",
            subject: "n:\(index)",
            actor: "system",
            details: details
        )
    }

    func append(_ journal: EventJournal, _ pool: any SQLStore, _ count: Int, from start: Int = 0) throws {
        try pool.write { db in
            for index in start..<(start + count) { try journal.append(db, event(index)) }
        }
    }

    /// `count` events of about 14 KB each (seven 2,000-byte details).
    func appendHeavy(_ journal: EventJournal, _ pool: any SQLStore, _ count: Int) throws {
        let heavy = String(repeating: "x", count: 2_000)
        try pool.write { db in
            for index in 0..<count {
                try journal.append(
                    db,
                    event(index, details: .object((0..<7).reduce(into: [:]) { $0["k\($1)"] = .string(heavy) }))
                )
            }
        }
    }

    func page(
        _ journal: EventJournal,
        _ pool: any SQLStore,
        after: UInt64,
        incarnation: String? = nil
    ) throws -> JournalPage {
        try WireCodec.fromJSON(
            JournalPage.self,
            try pool.read { db in try journal.pageJSON(db, after: after, incarnation: incarnation) }
        )
    }

    @Test(arguments: StoreBackend.all) func appendStampsPublisherIncarnationAndNextSequence(
        backend: StoreBackend
    ) throws {
        try withBrokerStore(backend) { store, _ in
            let journal = try EventJournal(publisher: "broker", store: store.database)
            #expect(journal.incarnation.hasPrefix("inc_"), "a new store starts a new incarnation")
            let stamped = try store.database.write { db in try journal.append(db, event(0)) }
            #expect(stamped.publisher == "broker")
            #expect(stamped.seq == 1)
            #expect(stamped.incarnation == journal.incarnation)
            #expect(journal.beacon == Beacon(publisher: "broker", incarnation: journal.incarnation, lastSeq: 1))
            // Reopened, it continues where it was.
            let reopened = try EventJournal(publisher: "broker", store: store.database)
            #expect(reopened.incarnation == journal.incarnation)
            #expect(reopened.lastSeq == 1)
        }
    }

    @Test(arguments: StoreBackend.all) func aRolledBackTransactionRewindsTheSequence(backend: StoreBackend) throws {
        try withBrokerStore(backend) { store, _ in
            let journal = try EventJournal(publisher: "broker", store: store.database)
            let batch = WriteBatch(store: store.database, journal: journal)
            var outcomes: [String] = []
            batch.add({ db in try journal.append(db, self.event(0)).seq }) {
                outcomes.append("first \(String(describing: try? $0.get()))")
            }
            batch.add({ db -> UInt64 in
                _ = try journal.append(db, self.event(1))
                throw StoreError(.conflict, "a write that fails")
            }) { outcomes.append("second \((try? $0.get()) == nil ? "failed" : "ok")") }
            batch.add({ db in try journal.append(db, self.event(2)).seq }) {
                outcomes.append("third \(String(describing: try? $0.get()))")
            }
            batch.commit()
            #expect(
                outcomes == ["first Optional(1)", "second failed", "third Optional(2)"],
                "the failed step's seq is reused: no gap"
            )
            #expect(try page(journal, store.database, after: 0).events.map(\.seq) == [1, 2])
            #expect(try page(journal, store.database, after: 0).events.map(\.subject) == ["n:0", "n:2"])
        }
    }

    /// A replay page always fits in one wire message, however heavy the events, and paging by
    /// `after` walks the whole journal.
    @Test(arguments: StoreBackend.all) func replayPagesStayUnderTheBodyLimit(backend: StoreBackend) throws {
        try withBrokerStore(backend) { store, _ in
            let journal = try EventJournal(publisher: "broker", store: store.database)
            try appendHeavy(journal, store.database, 200)
            var seen: [UInt64] = []
            var after: UInt64 = 0
            while true {
                let page = try page(journal, store.database, after: after)
                guard let last = page.events.last?.seq else { break }
                #expect(
                    WireCodec.json(page).count < WireCodec.maxBodyBytes,
                    "a page of \(page.events.count) events is too big"
                )
                seen += page.events.map(\.seq)
                after = last
            }
            #expect(seen == Array(1...200), "every event, once, in order")
        }
    }

    /// A page reads about as many rows as filled the last one; when events turn small again it reads
    /// on until the page is full, so pages neither lose events nor stay small.
    @Test(arguments: StoreBackend.all) func pagesFillAgainWhenEventsShrinkAfterLargeOnes(backend: StoreBackend) throws {
        try withBrokerStore(backend) { store, _ in
            let journal = try EventJournal(publisher: "broker", store: store.database)
            try appendHeavy(journal, store.database, 60)
            try append(journal, store.database, 2_500, from: 60)
            var sizes: [Int] = []
            var seen: [UInt64] = []
            var after: UInt64 = 0
            while true {
                let page = try page(journal, store.database, after: after)
                guard let last = page.events.last?.seq else { break }
                sizes.append(page.events.count)
                seen += page.events.map(\.seq)
                after = last
            }
            #expect(seen == Array(1...2_560), "every event, once, in order")
            #expect(sizes.first.map { $0 < 60 } == true, "large events make small pages: \(sizes)")
            #expect(sizes.contains(EventJournal.maxPageEvents), "small events fill whole pages again: \(sizes)")
        }
    }

    /// An oversized entry written before events were bounded is bounded again as it is read, so it
    /// can always be replayed and never stops the audit trail.
    @Test(arguments: StoreBackend.all) func anOversizedLegacyEntryIsBoundedWhenReplayed(backend: StoreBackend) throws {
        try withBrokerStore(backend) { store, _ in
            let journal = try EventJournal(publisher: "broker", store: store.database)
            let huge = String(repeating: "y", count: 300_000)
            try store.database.write { db in
                try journal.append(db, event(0))
                // As the old code journalled it: a 300 KB reason and details, straight into the table.
                let legacy =
                    #"{"publisher":"broker","seq":2,"at":0,"action":"command.succeeded","subject":"command:c","actor":"agent:a","result":"SUCCESS","reason":"\#(huge)","details":{"message":"\#(huge)"}}"#
                try db.execute(sql: "INSERT INTO journal (seq, event) VALUES (2, ?)", arguments: [legacy])
            }
            let reopened = try EventJournal(publisher: "broker", store: store.database)
            let page = try page(reopened, store.database, after: 1)
            #expect(page.events.map(\.seq) == [2])
            #expect(WireCodec.json(page).count < WireCodec.maxBodyBytes)
            #expect(page.events[0].reason?.contains("…[cut") == true)
        }
    }

    /// Entries this journal appended go into a page as stored; older ones are read again, and one
    /// that is not an event any more is left out while its neighbours are served.
    @Test(arguments: StoreBackend.all) func ownEntriesAreSplicedAsStoredAndAnUnreadableOldOneIsLeftOut(
        backend: StoreBackend
    ) throws {
        try withBrokerStore(backend) { store, _ in
            let first = try EventJournal(publisher: "broker", store: store.database)
            try store.database.write { db in
                try first.append(db, event(0))
                try db.execute(sql: "INSERT INTO journal (seq, event) VALUES (2, 'not json')")
            }
            let journal = try EventJournal(publisher: "broker", store: store.database)
            try store.database.write { db in _ = try journal.append(db, event(1)) }
            let stored = try store.database.read { db in
                try String.fetchOne(db, sql: "SELECT event FROM journal WHERE seq = 3")
            }
            let json = try store.database.read { db in try journal.pageJSON(db, after: 0, incarnation: nil) }
            #expect(String(decoding: json, as: UTF8.self).contains(try #require(stored)))
            let page = try WireCodec.fromJSON(JournalPage.self, json)
            #expect(page.events.map(\.seq) == [1, 3])
            #expect(page.events.allSatisfy { $0.incarnation == journal.incarnation })
            #expect(page.lastSeq == 3)
        }
    }

    @Test(arguments: StoreBackend.all) func acknowledgedEventsArePrunedAndTheSequenceNeverRestarts(
        backend: StoreBackend
    ) throws {
        try withBrokerStore(backend) { store, _ in
            let journal = try EventJournal(publisher: "broker", store: store.database)
            try append(journal, store.database, 5)
            #expect(
                try store.database.write { db in try journal.acknowledge(db, upTo: 2, incarnation: journal.incarnation)
                }
            )
            let afterFirst = try page(journal, store.database, after: 0)
            #expect(afterFirst.events.map(\.seq) == [3, 4, 5])
            #expect(afterFirst.prunedThrough == 2, "the page says what can no longer be replayed")
            #expect(try store.database.write { db in try journal.acknowledge(db, upTo: 1, incarnation: nil) })
            #expect(
                try page(journal, store.database, after: 0).prunedThrough == 2,
                "an older acknowledgement never lowers it"
            )
            #expect(try store.database.write { db in try journal.acknowledge(db, upTo: 5, incarnation: nil) })
            #expect(try page(journal, store.database, after: 0).events.isEmpty)
            // Reopened after a full prune, the sequence continues.
            let reopened = try EventJournal(publisher: "broker", store: store.database)
            #expect(reopened.lastSeq == 5)
            try append(reopened, store.database, 1)
            #expect(try page(reopened, store.database, after: 0).events.map(\.seq) == [6])
        }
    }

    /// Design §6: a publisher whose store was restored from an older copy must not hand the audit
    /// writer new events under sequence numbers it has already stored.
    @Test(arguments: StoreBackend.all) func anAcknowledgementBeyondTheJournalStartsANewIncarnation(
        backend: StoreBackend
    ) throws {
        try withBrokerStore(backend) { store, _ in
            let journal = try EventJournal(publisher: "broker", store: store.database)
            try append(journal, store.database, 3)
            let old = journal.incarnation
            // Restored: the store went back to seq 3, then new events were journalled as 4 and 5.
            let restored = try EventJournal(publisher: "broker", store: store.database)
            try append(restored, store.database, 2, from: 100)
            // The audit writer had seen up to 9 of this incarnation.
            #expect(try store.database.write { db in try restored.acknowledge(db, upTo: 9, incarnation: old) } == false)
            let fresh = try store.database.write { db in try restored.startNewIncarnation(db) }
            #expect(fresh != old)
            let page = try page(restored, store.database, after: 0, incarnation: old)
            #expect(page.incarnation == fresh, "asking for the old incarnation answers with the new one")
            #expect(page.events.map(\.seq) == [1, 2])
            #expect(
                page.events.map(\.subject) == ["n:100", "n:101"],
                "the events journalled since the restore move to the new incarnation"
            )
            #expect(page.events.allSatisfy { $0.incarnation == fresh })
        }
    }
}

struct WriteBatchTests {
    @Test(arguments: StoreBackend.all) func aFailedTransactionFailsEveryStepNewestFirstAndWritesNothing(
        backend: StoreBackend
    ) throws {
        try withBrokerStore(backend) { store, url in
            let journal = try EventJournal(publisher: "broker", store: store.database)
            let batch = WriteBatch(store: store.database, journal: journal)
            var order: [Int] = []
            for index in 0..<3 {
                batch.add({ db in
                    _ = try journal.append(
                        db,
                        AuditEvent(publisher: "", seq: 0, at: now, action: "a", subject: "s", actor: "x")
                    )
                    if index == 2 { try db.execute(sql: "INSERT INTO no_such_table VALUES (1)") }
                }) { outcome in
                    if case .failure = outcome { order.append(-index) } else { order.append(index) }
                }
            }
            batch.commit()
            // A statement error is confined to its savepoint; the other steps commit.
            #expect(order == [0, 1, -2])
            #expect(journal.lastSeq == 2)
            withExtendedLifetime(url) {}
        }
    }

    @Test(arguments: StoreBackend.all) func continuationsRunAfterTheCommitInOrder(backend: StoreBackend) throws {
        try withBrokerStore(backend) { store, _ in
            let batch = WriteBatch(store: store.database, journal: nil)
            var seen: [Int] = []
            batch.add({ db in try Int.fetchOne(db, sql: "SELECT 1")! }) { seen.append(try! $0.get()) }
            batch.add({ db in try Int.fetchOne(db, sql: "SELECT 2")! }) { seen.append(try! $0.get()) }
            #expect(batch.count == 2)
            #expect(seen.isEmpty, "nothing runs before the commit")
            batch.commit()
            #expect(seen == [1, 2])
            #expect(batch.isEmpty)
        }
    }
}
