import CapsuleProtocol
import CapsuleStore
import CapsuleTestSupport
import Foundation
import Testing

/// The broker pair's lease on a real PostgreSQL server: one holder at a time, the epoch grows at
/// every change of holder, and the fence stops a former holder's writes.
struct BrokerLeaseTests {
    @Test func oneHolderAtATimeAndTheFenceStopsAFormerOne() throws {
        try StoreFixture.with(.postgres) { fixture in
            let store = try fixture.open(BrokerStore.schema)
            defer { store.close() }
            let first = try store.write { db in
                try BrokerLease.acquire(db, holder: "a", endpoint: "tcp://a:7403", seconds: 0.6)
            }
            #expect(first.held)
            #expect(first.current?.epoch == 1)
            let refused = try store.write { db in
                try BrokerLease.acquire(db, holder: "b", endpoint: "tcp://b:7403", seconds: 0.6)
            }
            #expect(!refused.held, "the lease runs: b must wait")
            #expect(refused.current?.holder == "a")
            #expect(refused.current?.endpoint == "tcp://a:7403")
            let renewed = try store.write { db in
                try BrokerLease.acquire(db, holder: "a", endpoint: "tcp://a:7403", seconds: 0.6)
            }
            #expect(renewed.held && renewed.current?.epoch == 1, "a renewal keeps the epoch")

            // a's writes pass its fence while it holds the lease.
            let fenceA = BrokerLease.fence(holder: "a", epoch: 1)
            try store.write { db in try db.execute(sql: fenceA.sql, arguments: fenceA.arguments) }

            // a stops renewing; once the lease lapsed, b takes it with a new epoch.
            Thread.sleep(forTimeInterval: 0.8)
            let taken = try store.write { db in
                try BrokerLease.acquire(db, holder: "b", endpoint: "tcp://b:7403", seconds: 5)
            }
            #expect(taken.held)
            #expect(taken.current?.epoch == 2)
            #expect(throws: (any Error).self, "a former holder's fence fails, so its transaction writes nothing") {
                try store.write { db in try db.execute(sql: fenceA.sql, arguments: fenceA.arguments) }
            }
            #expect(
                try !store.write { db in try BrokerLease.acquire(db, holder: "a", endpoint: "tcp://a:7403", seconds: 5)
                }.held
            )

            // A graceful stop gives the lease up at once.
            try store.write { db in try BrokerLease.release(db, holder: "b") }
            #expect(
                try store.write { db in try BrokerLease.acquire(db, holder: "a", endpoint: "tcp://a:7403", seconds: 5) }
                    .held
            )
        }
    }

    /// The fence set on a store guards every write transaction, including a write batch's.
    @Test func aFencedStoreRefusesWritesOnceTheLeaseMovedOn() throws {
        try StoreFixture.with(.postgres) { fixture in
            let store = try fixture.open(BrokerStore.schema)
            let other = try fixture.open(BrokerStore.schema)
            defer {
                store.close()
                other.close()
            }
            _ = try other.write { db in try BrokerLease.acquire(db, holder: "a", endpoint: "tcp://a:7403", seconds: 0.5)
            }
            let fence = BrokerLease.fence(holder: "a", epoch: 1)
            store.setWriteFence(fence.sql, arguments: fence.arguments)
            let batch = WriteBatch(store: store, journal: nil)
            var outcome: Result<Void, any Error>?
            batch.add({ db in
                try BrokerStore.save(
                    db,
                    settings: .init(
                        heartbeatSeconds: 1,
                        staleSeconds: 2,
                        offlineSeconds: 3,
                        commandTTLSeconds: 4,
                        retentionDays: 5,
                        version: 1
                    )
                )
            }) { outcome = $0 }
            batch.commit()
            #expect((try? outcome?.get()) != nil, "written while the lease is held")

            Thread.sleep(forTimeInterval: 0.7)
            _ = try other.write { db in try BrokerLease.acquire(db, holder: "b", endpoint: "tcp://b:7403", seconds: 5) }
            batch.add({ db in
                try BrokerStore.save(
                    db,
                    settings: .init(
                        heartbeatSeconds: 9,
                        staleSeconds: 9,
                        offlineSeconds: 9,
                        commandTTLSeconds: 9,
                        retentionDays: 9,
                        version: 2
                    )
                )
            }) { outcome = $0 }
            batch.commit()
            #expect(throws: StoreError.self) { try outcome?.get() }
            #expect(try BrokerStore(database: other).settings()?.version == 1, "the fenced write did not land")
        }
    }

    /// Every connection asks the server to roll back a transaction of ours left idle, so a process
    /// that froze mid-transaction holds its locks (the lease row's, say) for 10 s at most.
    @Test func theServerEndsATransactionLeftIdle() throws {
        try StoreFixture.with(.postgres) { fixture in
            let store = try fixture.open(BrokerStore.schema)
            defer { store.close() }
            let setting = try store.read { db in
                try String.fetchOne(db, sql: "SHOW idle_in_transaction_session_timeout")
            }
            #expect(setting == "10s")
        }
    }
}
