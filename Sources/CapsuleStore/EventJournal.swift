import CapsuleDomain
import CapsuleProtocol
import Foundation
import GRDB

/// A publisher's durable journal of audit events (the Clone/Titanic pattern of design §6): each
/// event gets the next sequence number in the same transaction as the state change it reports.
package enum EventJournal {
    /// The journal table; registered by the migrators of the broker and aggregator stores.
    package static func createTable(_ db: Database) throws {
        try db.execute(sql: """
            CREATE TABLE journal (
                seq INTEGER PRIMARY KEY,
                event TEXT NOT NULL
            )
            """)
    }

    /// Appends an event, stamping `publisher` and the next sequence number, and returns it.
    package static func append(_ db: Database, publisher: String, _ make: (UInt64) -> AuditEvent) throws -> AuditEvent {
        let last = try UInt64.fetchOne(db, sql: "SELECT MAX(seq) FROM journal") ?? 0
        var event = make(last + 1)
        event.publisher = publisher
        event.seq = last + 1
        let text = String(decoding: WireCodec.json(event), as: UTF8.self)
        try db.execute(sql: "INSERT INTO journal (seq, event) VALUES (?, ?)", arguments: [event.seq, text])
        return event
    }

    /// A replay page stays under the wire's 256 KiB body limit, whatever the events weigh.
    package static let maxPageBytes = 192 * 1024

    /// Events with `seq > after`, oldest first: at most `limit`, and no more than `maxBytes` of stored
    /// JSON (but always at least one), so a replay reply always fits in one message.
    package static func events(_ db: Database, after: UInt64, limit: Int, maxBytes: Int = maxPageBytes) throws -> [AuditEvent] {
        var events: [AuditEvent] = []
        var bytes = 0
        let rows = try String.fetchCursor(db, sql: "SELECT event FROM journal WHERE seq > ? ORDER BY seq LIMIT ?", arguments: [after, limit])
        while let text = try rows.next() {
            bytes += text.utf8.count
            if bytes > maxBytes && !events.isEmpty { break }
            events.append(try WireCodec.fromJSON(AuditEvent.self, Data(text.utf8)))
        }
        return events
    }

    package static func lastSeq(_ db: Database) throws -> UInt64 {
        try UInt64.fetchOne(db, sql: "SELECT MAX(seq) FROM journal") ?? 0
    }

    /// Drops events the audit writer has confirmed (`seq <= upTo`), keeping the newest one so the
    /// sequence never restarts.
    package static func prune(_ db: Database, upTo: UInt64) throws {
        try db.execute(sql: "DELETE FROM journal WHERE seq <= ? AND seq < (SELECT MAX(seq) FROM journal)", arguments: [upTo])
    }
}
