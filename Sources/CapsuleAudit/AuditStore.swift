import CapsuleDomain
import CapsuleProtocol
import CapsuleStore
import Foundation
import GRDB

/// The audit trail in SQLite: `(publisher, seq)` is unique, so a replayed event is stored once.
package final class AuditStore: Sendable {
    package let pool: DatabasePool

    package init(url: URL) throws {
        pool = try StoreDatabase.open(at: url, migrator: Self.migrator)
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
        return migrator
    }

    /// Stores events (ignoring ones already stored) and returns, per publisher, the highest sequence
    /// number up to which nothing is missing.
    @discardableResult
    package func insert(_ events: [AuditEvent]) throws -> [String: UInt64] {
        try pool.write { db in
            for event in events {
                try db.execute(
                    sql: """
                        INSERT OR IGNORE INTO audit_event (publisher, seq, at, action, subject, actor, result, fromStatus, toStatus, reason, details)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """,
                    arguments: [event.publisher, event.seq, event.at.storeValue, event.action, event.subject, event.actor,
                                event.result.rawValue, event.from, event.to, event.reason,
                                event.details.map { String(decoding: WireCodec.json(Redactor.redact($0)), as: UTF8.self) }]
                )
            }
            var cursors: [String: UInt64] = [:]
            for publisher in Set(events.map(\.publisher)) {
                cursors[publisher] = try Self.advanceCursor(db, publisher: publisher)
            }
            return cursors
        }
    }

    private static func advanceCursor(_ db: Database, publisher: String) throws -> UInt64 {
        var cursor = try UInt64.fetchOne(db, sql: "SELECT lastSeq FROM publisher_cursor WHERE publisher = ?", arguments: [publisher]) ?? 0
        let following = try UInt64.fetchAll(db, sql: "SELECT seq FROM audit_event WHERE publisher = ? AND seq > ? ORDER BY seq",
                                            arguments: [publisher, cursor])
        for seq in following {
            guard seq == cursor + 1 else { break }
            cursor = seq
        }
        try db.execute(sql: "INSERT OR REPLACE INTO publisher_cursor (publisher, lastSeq) VALUES (?, ?)", arguments: [publisher, cursor])
        return cursor
    }

    package func cursors() throws -> [String: UInt64] {
        try pool.read { db in
            var result: [String: UInt64] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT publisher, lastSeq FROM publisher_cursor") {
                result[row["publisher"]] = row["lastSeq"]
            }
            return result
        }
    }

    /// Deletes events older than `cutoff` (the retention setting); returns how many went.
    @discardableResult
    package func prune(olderThan cutoff: Date) throws -> Int {
        try pool.write { db in
            try db.execute(sql: "DELETE FROM audit_event WHERE at < ?", arguments: [cutoff.storeValue])
            return db.changesCount
        }
    }

    /// An online backup of the whole audit database into a new SQLite file at `path`.
    package func backup(to path: String) throws -> Int {
        guard !FileManager.default.fileExists(atPath: path) else {
            throw StoreError(.conflict, "\(path) already exists; choose a new file")
        }
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
                arguments.append(action.trimmingCharacters(in: CharacterSet(charactersIn: "*")) + "*")
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
                    publisher: row["publisher"], seq: row["seq"], at: Date(storeValue: row["at"]), action: row["action"],
                    subject: row["subject"], actor: row["actor"], result: AuditResult(rawValue: row["result"]) ?? .failure,
                    from: row["fromStatus"], to: row["toStatus"], reason: row["reason"], details: details
                )
                return AuditRecord(id: row["id"], event: event)
            }
        }
    }
}
