import CapsuleDomain
import CapsuleProtocol
import CapsuleStore
import Foundation
import GRDB

/// One publisher's journal incarnation, as the audit writer follows it.
package struct JournalKey: Sendable, Hashable, Comparable, CustomStringConvertible, ExpressibleByStringLiteral {
    package var publisher: String
    package var incarnation: String

    package init(publisher: String, incarnation: String = "") {
        self.publisher = publisher
        self.incarnation = incarnation
    }

    /// `"broker"` is the legacy incarnation of the broker's journal.
    package init(stringLiteral value: String) { self.init(publisher: value) }

    package var description: String { incarnation.isEmpty ? publisher : "\(publisher)/\(incarnation)" }

    package static func < (lhs: JournalKey, rhs: JournalKey) -> Bool {
        (lhs.publisher, lhs.incarnation) < (rhs.publisher, rhs.incarnation)
    }
}

/// The audit trail in SQLite: `(publisher, incarnation, seq)` is unique, so a replayed event is
/// stored once, and a publisher whose store was reset (a new incarnation) is never taken for one
/// whose events were already seen.
package final class AuditStore: Sendable {
    package let pool: DatabasePool
    /// The audit writer's own events (retention, backups) are journalled under this publisher.
    package static let ownPublisher = "audit"

    package init(url: URL, initialize: Bool = false) throws {
        pool = try StoreDatabase.open(at: url, migrator: Self.migrator, initialize: initialize)
    }

    package static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE audit_event (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    publisher TEXT NOT NULL,
                    seq INTEGER NOT NULL,
                    at DOUBLE NOT NULL,
                    action TEXT NOT NULL,
                    subject TEXT NOT NULL,
                    actor TEXT NOT NULL,
                    result TEXT NOT NULL,
                    fromStatus TEXT,
                    toStatus TEXT,
                    reason TEXT,
                    details TEXT,
                    UNIQUE (publisher, seq)
                );
                CREATE INDEX audit_event_at ON audit_event(at);
                CREATE INDEX audit_event_subject ON audit_event(subject);
                CREATE TABLE publisher_cursor (
                    publisher TEXT PRIMARY KEY,
                    lastSeq INTEGER NOT NULL
                );
                """)
        }
        migrator.registerMigration("v2-incarnations") { db in
            // SQLite cannot change a UNIQUE constraint in place: rebuild both tables, keeping row ids.
            try db.execute(sql: """
                CREATE TABLE audit_event_v2 (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    publisher TEXT NOT NULL,
                    incarnation TEXT NOT NULL DEFAULT '',
                    seq INTEGER NOT NULL,
                    at DOUBLE NOT NULL,
                    action TEXT NOT NULL,
                    subject TEXT NOT NULL,
                    actor TEXT NOT NULL,
                    result TEXT NOT NULL,
                    fromStatus TEXT,
                    toStatus TEXT,
                    reason TEXT,
                    details TEXT,
                    UNIQUE (publisher, incarnation, seq)
                );
                INSERT INTO audit_event_v2 (id, publisher, incarnation, seq, at, action, subject, actor, result, fromStatus, toStatus, reason, details)
                    SELECT id, publisher, '', seq, at, action, subject, actor, result, fromStatus, toStatus, reason, details FROM audit_event;
                DROP TABLE audit_event;
                ALTER TABLE audit_event_v2 RENAME TO audit_event;
                CREATE INDEX audit_event_at ON audit_event(at);
                CREATE INDEX audit_event_subject ON audit_event(subject);
                CREATE INDEX audit_event_action ON audit_event(action);
                CREATE TABLE journal_cursor (
                    publisher TEXT NOT NULL,
                    incarnation TEXT NOT NULL,
                    lastSeq INTEGER NOT NULL,
                    seenAt DOUBLE NOT NULL,
                    PRIMARY KEY (publisher, incarnation)
                );
                INSERT INTO journal_cursor (publisher, incarnation, lastSeq, seenAt) SELECT publisher, '', lastSeq, 0 FROM publisher_cursor;
                DROP TABLE publisher_cursor;
                """)
        }
        return migrator
    }

    package static var schemaVersion: String { "v2" }

    /// Stores events (ignoring ones already stored) in one transaction and returns, per journal
    /// incarnation, the highest sequence number up to which nothing is missing.
    @discardableResult
    package func insert(_ events: [AuditEvent], now: Date = Date()) throws -> [JournalKey: UInt64] {
        try pool.write { db in try Self.insert(db, events, now: now) }
    }

    package static func insert(_ db: Database, _ events: [AuditEvent], now: Date) throws -> [JournalKey: UInt64] {
        let statement = try db.cachedStatement(sql: """
            INSERT OR IGNORE INTO audit_event (publisher, incarnation, seq, at, action, subject, actor, result, fromStatus, toStatus, reason, details)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """)
        var touched: [JournalKey: UInt64] = [:]
        for event in events {
            try statement.execute(arguments: [
                event.publisher, event.incarnation, event.seq, event.at.storeValue, event.action, event.subject, event.actor,
                event.result.rawValue, event.from, event.to, event.reason,
                event.details.map { String(decoding: WireCodec.json(Redactor.redact($0)), as: UTF8.self) },
            ])
            let key = JournalKey(publisher: event.publisher, incarnation: event.incarnation)
            touched[key] = max(touched[key] ?? 0, event.seq)
        }
        var cursors: [JournalKey: UInt64] = [:]
        for key in touched.keys { cursors[key] = try advanceCursor(db, key, now: now) }
        return cursors
    }

    private static func advanceCursor(_ db: Database, _ key: JournalKey, now: Date) throws -> UInt64 {
        var cursor = try UInt64.fetchOne(db, sql: "SELECT lastSeq FROM journal_cursor WHERE publisher = ? AND incarnation = ?",
                                         arguments: [key.publisher, key.incarnation]) ?? 0
        let following = try UInt64.fetchCursor(db, sql: """
            SELECT seq FROM audit_event WHERE publisher = ? AND incarnation = ? AND seq > ? ORDER BY seq
            """, arguments: [key.publisher, key.incarnation, cursor])
        while let seq = try following.next() {
            guard seq == cursor + 1 else { break }
            cursor = seq
        }
        try db.execute(sql: "INSERT OR REPLACE INTO journal_cursor (publisher, incarnation, lastSeq, seenAt) VALUES (?, ?, ?, ?)",
                       arguments: [key.publisher, key.incarnation, cursor, now.storeValue])
        return cursor
    }

    /// Passes the cursor of `key` over `from...through`, events its journal pruned before this store
    /// held them, and records the hole as one of the audit writer's own events, in one transaction.
    /// Returns the new contiguous position.
    package func skip(_ key: JournalKey, from: UInt64, through: UInt64, now: Date) throws -> UInt64 {
        try pool.write { db in
            try db.execute(sql: """
                INSERT INTO journal_cursor (publisher, incarnation, lastSeq, seenAt) VALUES (?, ?, ?, ?)
                ON CONFLICT(publisher, incarnation) DO UPDATE SET lastSeq = MAX(lastSeq, excluded.lastSeq)
                """, arguments: [key.publisher, key.incarnation, through, now.storeValue])
            let missing = try Int.fetchOne(db, sql: """
                SELECT ? - COUNT(*) FROM audit_event WHERE publisher = ? AND incarnation = ? AND seq BETWEEN ? AND ?
                """, arguments: [Int(through - from + 1), key.publisher, key.incarnation, from, through]) ?? 0
            _ = try Self.appendOwn(db, AuditEvent(
                publisher: Self.ownPublisher, seq: 0, at: now, action: "audit.journal_hole", subject: "journal:\(key.publisher)",
                actor: "audit", result: .failure,
                reason: "\(missing) events of \(key.publisher) (seq \(from)-\(through)) were pruned from its journal before this store held them: the audit store was reset or restored",
                details: .object(["publisher": .string(key.publisher), "incarnation": .string(key.incarnation),
                                  "from": .number(Double(from)), "through": .number(Double(through)), "missing": .number(Double(missing))])),
                now: now)
            return try Self.advanceCursor(db, key, now: now)
        }
    }

    /// Every journal incarnation followed so far and its contiguous position.
    package func cursors() throws -> [JournalKey: UInt64] {
        try pool.read { db in
            var result: [JournalKey: UInt64] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT publisher, incarnation, lastSeq FROM journal_cursor") {
                result[JournalKey(publisher: row["publisher"], incarnation: row["incarnation"])] = row["lastSeq"]
            }
            return result
        }
    }

    /// Each publisher's current incarnation: the one seen last.
    package func currentIncarnations() throws -> [String: String] {
        try pool.read { db in
            var result: [String: String] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT publisher, incarnation FROM journal_cursor ORDER BY seenAt") {
                result[row["publisher"]] = row["incarnation"]
            }
            return result
        }
    }

    /// Marks `key` as its publisher's current incarnation (a new one appeared).
    package func follow(_ key: JournalKey, now: Date) throws {
        try pool.write { db in
            try db.execute(sql: """
                INSERT INTO journal_cursor (publisher, incarnation, lastSeq, seenAt) VALUES (?, ?, 0, ?)
                ON CONFLICT(publisher, incarnation) DO UPDATE SET seenAt = excluded.seenAt
                """, arguments: [key.publisher, key.incarnation, now.storeValue])
        }
    }

    /// Appends one of the audit writer's own events (publisher `audit`), numbered after the last.
    package static func appendOwn(_ db: Database, _ event: AuditEvent, now: Date) throws -> AuditEvent {
        let last = try UInt64.fetchOne(db, sql: "SELECT MAX(seq) FROM audit_event WHERE publisher = ?", arguments: [ownPublisher]) ?? 0
        var own = event
        own.publisher = ownPublisher
        own.incarnation = ""
        own.seq = last + 1
        _ = try insert(db, [own], now: now)
        return own
    }

    /// Deletes events older than `cutoff` (the retention setting) and records that it did, in one
    /// transaction; returns how many went.
    @discardableResult
    package func prune(olderThan cutoff: Date, retentionDays: Int, now: Date = Date()) throws -> Int {
        try pool.write { db in
            try db.execute(sql: "DELETE FROM audit_event WHERE at < ? AND publisher != ?", arguments: [cutoff.storeValue, Self.ownPublisher])
            let removed = db.changesCount
            // The audit writer's own records are kept: they are few, and they are the record of what was deleted.
            if removed > 0 {
                _ = try Self.appendOwn(db, AuditEvent(
                    publisher: Self.ownPublisher, seq: 0, at: now, action: "audit.retention_applied", subject: "audit", actor: "system",
                    reason: "deleted \(removed) events older than \(retentionDays) days",
                    details: .object(["removed": .number(Double(removed)), "cutoff": .number(cutoff.timeIntervalSince1970 * 1000)])), now: now)
            }
            return removed
        }
    }

    /// An online backup of the whole audit database into the file at `path`, which the caller has
    /// created empty (mode 0600, not through a symbolic link).
    package func backup(into path: String) throws -> Int {
        let destination = try DatabaseQueue(path: path)
        try pool.backup(to: destination)
        try destination.close()
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        return (attributes[.size] as? Int) ?? 0
    }

    package func query(_ filter: AuditFilter) throws -> [AuditRecord] {
        var clauses: [String] = []
        var arguments: [(any DatabaseValueConvertible)?] = []
        if let subject = filter.subject {
            clauses.append("subject = ?")
            arguments.append(subject)
        }
        if let action = filter.action {
            if action.hasSuffix("*") || action.hasSuffix(".") {
                // GLOB is case-sensitive and treats `_` literally, unlike LIKE.
                clauses.append("action GLOB ?")
                arguments.append(action.trimmingCharacters(in: CharacterSet(charactersIn: "*")).replacingOccurrences(of: "[", with: "[[]") + "*")
            } else {
                clauses.append("action = ?")
                arguments.append(action)
            }
        }
        if let actor = filter.actor {
            clauses.append("actor = ?")
            arguments.append(actor)
        }
        if let result = filter.result {
            clauses.append("result = ?")
            arguments.append(result.rawValue)
        }
        if let since = filter.since {
            clauses.append("at >= ?")
            arguments.append(since.storeValue)
        }
        if let until = filter.until {
            clauses.append("at <= ?")
            arguments.append(until.storeValue)
        }
        if let afterId = filter.afterId {
            clauses.append("id > ?")
            arguments.append(afterId)
        }
        if let beforeId = filter.beforeId {
            clauses.append("id < ?")
            arguments.append(beforeId)
        }
        let whereClause = clauses.isEmpty ? "" : "WHERE " + clauses.joined(separator: " AND ")
        let order = filter.ascending == true ? "id ASC" : "id DESC"
        let limit = max(1, min(filter.limit ?? 100, 100_000))
        let sql = "SELECT * FROM audit_event \(whereClause) ORDER BY \(order) LIMIT \(limit)"
        return try pool.read { db in
            try Row.fetchAll(db, sql: sql, arguments: StatementArguments(arguments)).map { row in
                let details: JSONValue? = (row["details"] as String?).flatMap { try? WireCodec.fromJSON(JSONValue.self, Data($0.utf8)) }
                let event = AuditEvent(
                    publisher: row["publisher"], incarnation: row["incarnation"], seq: row["seq"], at: Date(storeValue: row["at"]),
                    action: row["action"], subject: row["subject"], actor: row["actor"],
                    result: AuditResult(rawValue: row["result"]) ?? .failure,
                    from: row["fromStatus"], to: row["toStatus"], reason: row["reason"], details: details
                )
                return AuditRecord(id: row["id"], event: event)
            }
        }
    }

    /// The highest row id stored, for followers that want only what comes next.
    package func lastId() throws -> Int64 {
        try pool.read { db in try Int64.fetchOne(db, sql: "SELECT MAX(id) FROM audit_event") ?? 0 }
    }
}
