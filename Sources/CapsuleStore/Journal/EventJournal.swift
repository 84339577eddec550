package import CapsuleDomain
package import CapsuleProtocol
package import Foundation

/// A publisher's durable journal of audit events (the Clone/Titanic pattern of design §6).
///
/// Each event gets the next sequence number in the same transaction as the state change it
/// reports. The sequence is kept in memory: the journal has one writer, the publisher's loop thread,
/// and ``rewind(to:)`` restores it when a transaction rolls back. Each journal has an incarnation id;
/// a reset or restored store starts a new one, so the audit writer, which follows
/// `(publisher, incarnation, seq)`, never takes new events for ones it has already seen.
package final class EventJournal {
    package let publisher: String
    package private(set) var incarnation: String
    package private(set) var lastSeq: UInt64
    /// The last sequence number the store held when this process opened it.
    private var startSeq: UInt64
    /// How many rows ``pageJSON(_:after:incarnation:)`` reads at first: about as many as filled the
    /// last page, so the rows that would not fit are not read, sent and decoded only to be dropped.
    private var rowsToRead = EventJournal.maxPageEvents

    /// A replay page stays under the wire's 256 KiB body limit, whatever the events weigh.
    package static let maxPageBytes = 192 * 1024
    package static let maxPageEvents = 1_000

    /// The journal table and its metadata; registered by the migrators of the broker and aggregator stores.
    package static func createTables(_ db: any SQLConnection) throws {
        let integer = db.dialect == .postgres ? "BIGINT" : "INTEGER"
        try db.execute(sql: "CREATE TABLE IF NOT EXISTS journal (seq \(integer) PRIMARY KEY, event TEXT NOT NULL)")
        try db.execute(sql: "CREATE TABLE IF NOT EXISTS journal_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    }

    /// The journal's tables as a PostgreSQL migration step.
    package static let postgresTables = """
        CREATE TABLE IF NOT EXISTS journal (seq BIGINT PRIMARY KEY, event TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS journal_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        """

    /// Loads the journal's position, creating its incarnation on first use. A journal that already
    /// held events before incarnations existed keeps the legacy incarnation `""`, so the audit writer
    /// does not take its history for a new one.
    package init(publisher: String, store: any SQLStore) throws {
        self.publisher = publisher
        (incarnation, lastSeq) = try store.write { db in
            try Self.createTables(db)
            let last = try UInt64.fetchOne(db, sql: "SELECT MAX(seq) FROM journal") ?? 0
            let floor =
                try String.fetchOne(db, sql: "SELECT value FROM journal_meta WHERE key = 'lastSeq'").flatMap(
                    UInt64.init
                ) ?? 0
            if let existing = try String.fetchOne(db, sql: "SELECT value FROM journal_meta WHERE key = 'incarnation'") {
                return (existing, max(last, floor))
            }
            let fresh = last > 0 ? "" : Self.newIncarnation()
            try db.execute(sql: "INSERT INTO journal_meta (key, value) VALUES ('incarnation', ?)", arguments: [fresh])
            return (fresh, max(last, floor))
        }
        startSeq = lastSeq
    }

    static func newIncarnation() -> String {
        "inc_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(12).lowercased()
    }

    /// Appends an event inside the caller's transaction, stamping publisher, incarnation and the
    /// next sequence number, and returns it as journalled.
    @discardableResult
    package func append(_ db: any SQLConnection, _ event: AuditEvent) throws -> AuditEvent {
        var stamped = event
        stamped.publisher = publisher
        stamped.incarnation = incarnation
        stamped.seq = lastSeq + 1
        let text = String(decoding: WireCodec.json(stamped), as: UTF8.self)
        try db.execute(sql: "INSERT INTO journal (seq, event) VALUES (?, ?)", arguments: [stamped.seq, text])
        lastSeq = stamped.seq
        return stamped
    }

    /// Restores the in-memory sequence after the transaction holding appends rolled back.
    package func rewind(to seq: UInt64) { lastSeq = seq }

    /// Events after `after`, oldest first, as the JSON of a ``JournalPage`` for a reply: at most
    /// ``maxPageEvents`` and no more than ``maxPageBytes`` of stored JSON (but always at least one), so
    /// a reply always fits in one message. When `incarnation` is not the current one, the page starts
    /// at the current incarnation's seq 1. An event this instance appended goes in as stored: it was
    /// bounded when created and encoded by ``append(_:_:)``, with this incarnation. An older entry
    /// (another process's, or one written before the caps) is decoded, bounded and encoded again, so
    /// it cannot stall replay; one that does not decode is left out.
    package func pageJSON(_ db: any SQLConnection, after: UInt64, incarnation asked: String?) throws -> Data {
        var position = (asked == nil || asked == incarnation) ? after : 0
        var events = Data()
        var count = 0
        var full = false
        var limit = rowsToRead
        // Rows are read about a page's worth at a time, and more only while the page has room.
        reading: while count < Self.maxPageEvents {
            let asking = min(limit, Self.maxPageEvents - count)
            let rows = try SQLRow.fetchAll(
                db,
                sql: "SELECT seq, event FROM journal WHERE seq > ? ORDER BY seq LIMIT ?",
                arguments: [position, asking]
            )
            for row in rows {
                let seq: UInt64 = row["seq"]
                let text: String = row["event"]
                let entry: Data
                if seq > startSeq && text.utf8.count <= Self.maxPageBytes / 4 {
                    entry = Data(text.utf8)
                } else if var event = try? WireCodec.fromJSON(AuditEvent.self, Data(text.utf8)) {
                    event.bound()
                    event.incarnation = incarnation
                    entry = WireCodec.json(event)
                } else {
                    position = seq
                    continue
                }
                if count > 0 && events.count + entry.count > Self.maxPageBytes {
                    full = true
                    break reading
                }
                if count > 0 { events.append(UInt8(ascii: ",")) }
                events.append(entry)
                count += 1
                position = seq
            }
            if rows.count < asking { break }
            limit = max(16, asking / 4)
        }
        if full {
            rowsToRead = min(Self.maxPageEvents, count + count / 8 + 16)
        } else if count == Self.maxPageEvents {
            rowsToRead = Self.maxPageEvents
        }
        let pruned = try String.fetchOne(db, sql: "SELECT value FROM journal_meta WHERE key = 'prunedThrough'").flatMap(
            UInt64.init
        )
        var json = Data(#"{"incarnation":"#.utf8)
        json.reserveCapacity(events.count + 128)
        json.append(WireCodec.json(incarnation))
        json.append(contentsOf: #","lastSeq":\#(lastSeq),"events":["#.utf8)
        json.append(events)
        json.append(UInt8(ascii: "]"))
        if let pruned { json.append(contentsOf: #","prunedThrough":\#(pruned)"#.utf8) }
        json.append(UInt8(ascii: "}"))
        return json
    }

    /// Drops events the audit writer has confirmed (`seq <= upTo` of the current incarnation),
    /// remembering the last sequence number so it never restarts. Returns false when the
    /// acknowledgement does not fit this journal: the audit writer has seen more than exists, so this
    /// store was restored from an older copy; the caller then starts a new incarnation.
    package func acknowledge(_ db: any SQLConnection, upTo: UInt64, incarnation asked: String?) throws -> Bool {
        guard asked == nil || asked == incarnation else { return true }
        guard upTo <= lastSeq else { return false }
        try db.execute(sql: "DELETE FROM journal WHERE seq <= ?", arguments: [upTo])
        try Self.setMeta(db, "lastSeq", String(lastSeq))
        // What can no longer be replayed: a follower whose store lost these (reset or restored) skips them.
        let pruned =
            try String.fetchOne(db, sql: "SELECT value FROM journal_meta WHERE key = 'prunedThrough'").flatMap(
                UInt64.init
            ) ?? 0
        if upTo > pruned { try Self.setMeta(db, "prunedThrough", String(upTo)) }
        return true
    }

    /// Starts a new incarnation after a restore was detected (the audit writer acknowledged more
    /// than this journal holds). Events journalled since this process opened the store collide with
    /// ones the audit writer already has under the old incarnation, so they move to the new one,
    /// renumbered from 1; older rows predate the restored copy and were stored already.
    /// Returns the new incarnation.
    @discardableResult
    package func startNewIncarnation(_ db: any SQLConnection) throws -> String {
        let fresh = Self.newIncarnation()
        try Self.setMeta(db, "incarnation", fresh)
        let moved = try String.fetchAll(
            db,
            sql: "SELECT event FROM journal WHERE seq > ? ORDER BY seq",
            arguments: [startSeq]
        )
        try db.execute(sql: "DELETE FROM journal")
        try db.execute(sql: "DELETE FROM journal_meta WHERE key IN ('lastSeq', 'prunedThrough')")
        incarnation = fresh
        lastSeq = 0
        startSeq = 0
        for text in moved {
            guard let event = try? WireCodec.fromJSON(AuditEvent.self, Data(text.utf8)) else { continue }
            try append(db, event)
        }
        return fresh
    }

    /// Sets one metadata value, inserting or replacing it.
    static func setMeta(_ db: any SQLConnection, _ key: String, _ value: String) throws {
        try db.execute(
            sql:
                "INSERT INTO journal_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            arguments: [key, value]
        )
    }

    /// Takes up the journal again after another process wrote to the same store (a broker that
    /// became active on a shared PostgreSQL store): its incarnation and last sequence number.
    package func reload(_ db: any SQLConnection) throws {
        let last = try UInt64.fetchOne(db, sql: "SELECT MAX(seq) FROM journal") ?? 0
        let floor =
            try String.fetchOne(db, sql: "SELECT value FROM journal_meta WHERE key = 'lastSeq'").flatMap(UInt64.init)
            ?? 0
        if let existing = try String.fetchOne(db, sql: "SELECT value FROM journal_meta WHERE key = 'incarnation'") {
            incarnation = existing
        }
        lastSeq = max(last, floor)
        startSeq = lastSeq
    }

    /// Rows still held (for journal depth metrics).
    package func depth(_ db: any SQLConnection) throws -> Int {
        try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM journal") ?? 0
    }

    /// This publisher's beacon.
    package var beacon: Beacon { Beacon(publisher: publisher, incarnation: incarnation, lastSeq: lastSeq) }
}
