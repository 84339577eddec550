import CapsuleAudit
import CapsuleDomain
import CapsuleProtocol
import CapsuleStore
import CapsuleTestSupport
import Foundation
import Testing

/// The upgrade from SQLite to PostgreSQL (`capsulectl store migrate`): every row copied, checked
/// by counts, the journal's incarnation and position kept, and a non-empty target refused.
struct StoreCopyTests {
    @Test func sqliteStoresMoveToPostgreSQLWithTheirCountsAndTheirJournal() throws {
        try StoreFixture.with(.sqlite) { sqlite in
            try StoreFixture.with(.postgres) { postgres in
                let broker = BrokerStore(database: try sqlite.open(BrokerStore.schema))
                let journal = try EventJournal(publisher: BrokerStore.publisher, store: broker.database)
                for index in 0..<30 { try enroll(broker, code: "edge-\(index)", key: "KEY-\(index)") }
                try broker.database.write { db in
                    try BrokerStore.insert(db, command(), sealedPayload: Data("sealed".utf8))
                    for index in 0..<5 {
                        try journal.append(
                            db,
                            AuditEvent(publisher: "", seq: 0, at: now, action: "test", subject: "s\(index)", actor: "x")
                        )
                    }
                }
                let audit = AuditStore(database: try sqlite.open(AuditStore.schema))
                try audit.insert((1...2_500).map { event("broker", UInt64($0), at: Double($0)) })

                let brokerTarget = try postgres.open(BrokerStore.schema)
                let brokerCounts = try StoreCopy.copy(BrokerStore.schema, from: broker.database, to: brokerTarget)
                #expect(brokerCounts.allSatisfy { $0.matches }, "\(brokerCounts)")
                #expect(brokerCounts.first { $0.table == "agent" }?.target == 30)
                let auditTarget = try postgres.open(AuditStore.schema)
                let auditCounts = try StoreCopy.copy(AuditStore.schema, from: audit.database, to: auditTarget)
                #expect(auditCounts.first { $0.table == "audit_event" }?.target == 2_500)

                // The copies read as the originals, and keep working.
                let moved = BrokerStore(database: brokerTarget)
                #expect(try moved.agent(code: "edge-7") == (try broker.agent(code: "edge-7")))
                #expect(try moved.command(id: "cmd_1") == (try broker.command(id: "cmd_1")))
                let movedJournal = try EventJournal(publisher: BrokerStore.publisher, store: brokerTarget)
                #expect(
                    movedJournal.incarnation == journal.incarnation && movedJournal.lastSeq == 5,
                    "the journal goes on"
                )
                let movedAudit = AuditStore(database: auditTarget)
                #expect(try movedAudit.cursors() == (try audit.cursors()))
                #expect(
                    try movedAudit.query(filter { $0.limit = 3 }).map(\.id)
                        == (try audit.query(filter { $0.limit = 3 })).map(\.id)
                )
                try movedAudit.insert([event("broker", 2_501)])
                #expect(try movedAudit.lastId() == 2_501, "new rows get ids after the copied ones")

                #expect(throws: StoreError.self, "a second copy into the same store is refused") {
                    try StoreCopy.copy(AuditStore.schema, from: audit.database, to: auditTarget)
                }
                for store in [broker.database, audit.database, brokerTarget, auditTarget] { store.close() }
            }
        }
    }
}
