package import CapsuleDomain
package import CapsuleProtocol
package import CapsuleStore
package import Foundation
package import GRDB

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

/// The audit trail, in SQLite or PostgreSQL: `(publisher, incarnation, seq)` is unique and inserts
/// ignore conflicts, so a replayed event is stored once, and a publisher whose store was reset (a
/// new incarnation) is never taken for one whose events were already seen.
package final class AuditStore: Sendable {
    package let database: any SQLStore
    /// The audit writer's own events (retention, backups) are journalled under this publisher.
    package static let ownPublisher = "audit"

    package convenience init(url: URL, initialize: Bool = false) throws {
        self.init(database: try SQLiteStore.open(at: url, schema: Self.schema, initialize: initialize))
    }

    package init(database: any SQLStore) {
        self.database = database
    }

    package static let schema = StoreSchema(
        name: "audit",
        sqlite: migrator,
        postgres: postgresMigrations,
        tables: ["audit_event", "journal_cursor"],
        postgresAfterCopy: [
            "SELECT setval(pg_get_serial_sequence('audit_event', 'id'), (SELECT COALESCE(MAX(id), 0) + 1 FROM audit_event), false)"
        ],
        // A page cache that holds the four indexes' hot pages, and a checkpoint every 64 MB of WAL
        // instead of every 4 MB, so a page rewritten by many batches (an index's right edge, the
        // table's last page) is copied into the database once per checkpoint, not once per few.
        sqliteWriterPragmas: ["PRAGMA cache_size = -65536", "PRAGMA wal_autocheckpoint = 16384"]
    )

    package static let postgresMigrations: [StoreSchema.Migration] = [
        .init(
            "v1",
            """
            CREATE TABLE audit_event (
                id BIGSERIAL PRIMARY KEY,
                publisher TEXT NOT NULL,
                incarnation TEXT NOT NULL DEFAULT '',
                seq BIGINT NOT NULL,
                at DOUBLE PRECISION NOT NULL,
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
            CREATE INDEX audit_event_at ON audit_event(at);
            CREATE INDEX audit_event_subject ON audit_event(subject);
            CREATE INDEX audit_event_action ON audit_event(action);
            CREATE TABLE journal_cursor (
                publisher TEXT NOT NULL,
                incarnation TEXT NOT NULL,
                lastSeq BIGINT NOT NULL,
                seenAt DOUBLE PRECISION NOT NULL,
                PRIMARY KEY (publisher, incarnation)
            );
            """
        )
    ]

    package static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(
                sql: """
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
                    """
            )
        }
        migrator.registerMigration("v2-incarnations") { db in
            // SQLite cannot change a UNIQUE constraint in place: rebuild both tables, keeping row ids.
            try db.execute(
                sql: """
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
                    """
            )
        }
        return migrator
    }

    package static var schemaVersion: String { "v2" }
    package static var postgresSchemaVersion: String { schema.version }

    static let columns =
        "publisher, incarnation, seq, at, action, subject, actor, result, fromStatus, toStatus, reason, details"
    static let copyColumns = columns.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
    /// Rows per multi-row INSERT on PostgreSQL (12 values each, well under its 65,535 parameters).
    static let rowsPerInsert = 1_000

    /// Events as rows: each one's column values computed (redaction, the details' JSON), and the
    /// highest sequence number per journal incarnation. Built off the store's thread, so the thread
    /// that writes only binds and steps (the audit writer's replay is bound by that thread).
    package struct Rows: Sendable {
        package let values: [[SQLValue]]
        /// Per journal incarnation, the batch's sequence numbers, ascending, each once.
        let sequenceNumbers: [JournalKey: [UInt64]]
        /// Per journal incarnation, the highest sequence number in the batch.
        package var highest: [JournalKey: UInt64] { sequenceNumbers.compactMapValues(\.last) }

        package init(_ events: [AuditEvent]) {
            var numbers: [JournalKey: [UInt64]] = [:]
            var values: [[SQLValue]] = []
            values.reserveCapacity(events.count)
            for event in events {
                numbers[JournalKey(publisher: event.publisher, incarnation: event.incarnation), default: []]
                    .append(event.seq)
                values.append(AuditStore.row(event))
            }
            // A replay page is already in order; live events nearly so.
            sequenceNumbers = numbers.mapValues { seqs in
                var sorted = seqs
                if zip(seqs, seqs.dropFirst()).contains(where: { $0 >= $1 }) {
                    sorted = Array(Set(seqs)).sorted()
                }
                return sorted
            }
            self.values = values
        }
    }

    /// Stores events (ignoring ones already stored) in one transaction and returns, per journal
    /// incarnation, the highest sequence number up to which nothing is missing.
    @discardableResult
    package func insert(_ events: [AuditEvent], now: Date = Date()) throws -> [JournalKey: UInt64] {
        try insert(Rows(events), now: now)
    }

    /// ``insert(_:now:)`` for rows built beforehand.
    @discardableResult
    package func insert(_ rows: Rows, now: Date = Date()) throws -> [JournalKey: UInt64] {
        try database.write { db in try Self.insert(db, rows, now: now) }
    }

    /// The values of ``columns`` for one event, built directly (no existential per value: a replay
    /// builds one row per event on the audit writer's loop thread).
    static func row(_ event: AuditEvent) -> [SQLValue] {
        func optional(_ text: String?) -> SQLValue { text.map(SQLValue.text) ?? .null }
        return [
            .text(event.publisher), .text(event.incarnation), event.seq.sqlValue, .real(event.at.storeValue),
            .text(event.action), .text(event.subject), .text(event.actor), .text(event.result.rawValue),
            optional(event.from), optional(event.to), optional(event.reason),
            optional(event.details.map { Redactor.redact($0).jsonText }),
        ]
    }

    /// The INSERT for `rows` events: one row per statement on SQLite (a cached statement is fastest
    /// there), many per statement on PostgreSQL (one round trip per thousand rows).
    static func insertSQL(rows: Int) -> String {
        let row = "(" + Array(repeating: "?", count: 12).joined(separator: ", ") + ")"
        return "INSERT INTO audit_event (\(columns)) VALUES "
            + Array(repeating: row, count: rows).joined(separator: ", ")
            + " ON CONFLICT DO NOTHING"
    }

    package static func insert(
        _ db: any SQLConnection,
        _ events: [AuditEvent],
        now: Date
    ) throws -> [JournalKey: UInt64] {
        try insert(db, Rows(events), now: now)
    }

    static func insert(_ db: any SQLConnection, _ rows: Rows, now: Date) throws -> [JournalKey: UInt64] {
        switch db.dialect {
        case .sqlite:
            let sql = insertSQL(rows: 1)
            for row in rows.values { try db.execute(sql: sql, arguments: SQLArguments(row)) }
        case .postgres:
            // One COPY for the whole batch: no statement to plan, one round trip. A batch that
            // overlaps what is stored (a replay after a restart, before its acknowledgement) hits the
            // unique key and fails whole; it is then inserted with ON CONFLICT DO NOTHING instead.
            // Exactly-once rests on the key either way.
            do {
                try db.inSavepoint {
                    try db.copy(into: "audit_event", columns: copyColumns, rows: rows.values)
                }
            } catch let error as StoreError where error.code == .conflict {
                try insertIgnoringStored(db, rows.values)
            }
        }
        var cursors: [JournalKey: UInt64] = [:]
        for (key, held) in rows.sequenceNumbers { cursors[key] = try advanceCursor(db, key, now: now, over: held) }
        return cursors
    }

    /// Multi-row INSERTs that pass over rows the unique key already holds.
    private static func insertIgnoringStored(_ db: any SQLConnection, _ rows: [[SQLValue]]) throws {
        var start = 0
        while start < rows.count {
            let chunk = rows[start..<min(start + rowsPerInsert, rows.count)]
            var arguments = SQLArguments([] as [SQLValue])
            arguments.values.reserveCapacity(chunk.count * 12)
            for row in chunk { arguments.values += row }
            try db.execute(sql: insertSQL(rows: chunk.count), arguments: arguments)
            start += chunk.count
        }
    }

    /// Moves the cursor of `key` over every sequence number now held without a gap. `held` are the
    /// ones just stored (ascending): every one of them is in the table now, inserted or already
    /// there, so the cursor walks over them in memory first, and only what lies beyond them is read
    /// (the usual case, a batch that continues the journal, then reads nothing but an empty range).
    private static func advanceCursor(
        _ db: any SQLConnection,
        _ key: JournalKey,
        now: Date,
        over held: [UInt64] = []
    ) throws -> UInt64 {
        var cursor =
            try UInt64.fetchOne(
                db,
                sql: "SELECT lastSeq FROM journal_cursor WHERE publisher = ? AND incarnation = ?",
                arguments: [key.publisher, key.incarnation]
            ) ?? 0
        for seq in held where seq > cursor {
            guard seq == cursor + 1 else { break }
            cursor = seq
        }
        let page = 10_000
        while true {
            let following = try UInt64.fetchAll(
                db,
                sql: """
                    SELECT seq FROM audit_event WHERE publisher = ? AND incarnation = ? AND seq > ? ORDER BY seq LIMIT ?
                    """,
                arguments: [key.publisher, key.incarnation, cursor, page]
            )
            var contiguous = true
            for seq in following {
                guard seq == cursor + 1 else {
                    contiguous = false
                    break
                }
                cursor = seq
            }
            if !contiguous || following.count < page { break }
        }
        try db.execute(
            sql: """
                INSERT INTO journal_cursor (publisher, incarnation, lastSeq, seenAt) VALUES (?, ?, ?, ?)
                ON CONFLICT (publisher, incarnation) DO UPDATE SET lastSeq = excluded.lastSeq, seenAt = excluded.seenAt
                """,
            arguments: [key.publisher, key.incarnation, cursor, now.storeValue]
        )
        return cursor
    }

    /// Passes the cursor of `key` over `from...through`, events its journal pruned before this store
    /// held them, and records the hole as one of the audit writer's own events, in one transaction.
    /// Returns the new contiguous position.
    package func skip(_ key: JournalKey, from: UInt64, through: UInt64, now: Date) throws -> UInt64 {
        try database.write { db in
            try db.execute(
                sql: """
                    INSERT INTO journal_cursor (publisher, incarnation, lastSeq, seenAt) VALUES (?, ?, ?, ?)
                    ON CONFLICT (publisher, incarnation) DO UPDATE SET lastSeq = CASE
                        WHEN excluded.lastSeq > journal_cursor.lastSeq THEN excluded.lastSeq ELSE journal_cursor.lastSeq END
                    """,
                arguments: [key.publisher, key.incarnation, through, now.storeValue]
            )
            let held =
                try Int.fetchOne(
                    db,
                    sql: """
                        SELECT COUNT(*) FROM audit_event WHERE publisher = ? AND incarnation = ? AND seq BETWEEN ? AND ?
                        """,
                    arguments: [key.publisher, key.incarnation, from, through]
                ) ?? 0
            let missing = Int(through - from + 1) - held
            _ = try Self.appendOwn(
                db,
                AuditEvent(
                    publisher: Self.ownPublisher,
                    seq: 0,
                    at: now,
                    action: "audit.journal_hole",
                    subject: "journal:\(key.publisher)",
                    actor: "audit",
                    result: .failure,
                    reason:
                        "\(missing) events of \(key.publisher) (seq \(from)-\(through)) were pruned from its journal before this store held them: the audit store was reset or restored",
                    details: .object([
                        "publisher": .string(key.publisher), "incarnation": .string(key.incarnation),
                        "from": .number(Double(from)), "through": .number(Double(through)),
                        "missing": .number(Double(missing)),
                    ])
                ),
                now: now
            )
            return try Self.advanceCursor(db, key, now: now)
        }
    }

    /// Every journal incarnation followed so far and its contiguous position.
    package func cursors() throws -> [JournalKey: UInt64] {
        try database.read { db in
            var result: [JournalKey: UInt64] = [:]
            for row in try SQLRow.fetchAll(db, sql: "SELECT publisher, incarnation, lastSeq FROM journal_cursor") {
                result[JournalKey(publisher: row["publisher"], incarnation: row["incarnation"])] = row["lastSeq"]
            }
            return result
        }
    }

    /// Each publisher's current incarnation: the one seen last.
    package func currentIncarnations() throws -> [String: String] {
        try database.read { db in
            var result: [String: String] = [:]
            for row in try SQLRow.fetchAll(db, sql: "SELECT publisher, incarnation FROM journal_cursor ORDER BY seenAt")
            {
                result[row["publisher"]] = row["incarnation"]
            }
            return result
        }
    }

    /// Marks `key` as its publisher's current incarnation (a new one appeared).
    package func follow(_ key: JournalKey, now: Date) throws {
        try database.write { db in
            try db.execute(
                sql: """
                    INSERT INTO journal_cursor (publisher, incarnation, lastSeq, seenAt) VALUES (?, ?, 0, ?)
                    ON CONFLICT(publisher, incarnation) DO UPDATE SET seenAt = excluded.seenAt
                    """,
                arguments: [key.publisher, key.incarnation, now.storeValue]
            )
        }
    }

    /// Appends one of the audit writer's own events (publisher `audit`), numbered after the last.
    package static func appendOwn(_ db: any SQLConnection, _ event: AuditEvent, now: Date) throws -> AuditEvent {
        let last =
            try UInt64.fetchOne(
                db,
                sql: "SELECT MAX(seq) FROM audit_event WHERE publisher = ?",
                arguments: [ownPublisher]
            ) ?? 0
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
        try database.write { db in
            let removed = try db.executeCounting(
                sql: "DELETE FROM audit_event WHERE at < ? AND publisher != ?",
                arguments: [cutoff.storeValue, Self.ownPublisher]
            )
            // The audit writer's own records are kept: they are few, and they are the record of what was deleted.
            if removed > 0 {
                _ = try Self.appendOwn(
                    db,
                    AuditEvent(
                        publisher: Self.ownPublisher,
                        seq: 0,
                        at: now,
                        action: "audit.retention_applied",
                        subject: "audit",
                        actor: "system",
                        reason: "deleted \(removed) events older than \(retentionDays) days",
                        details: .object([
                            "removed": .number(Double(removed)), "cutoff": .number(cutoff.timeIntervalSince1970 * 1000),
                        ])
                    ),
                    now: now
                )
            }
            return removed
        }
    }

    /// An online backup of the whole audit database into the file at `path`, which the caller has
    /// created empty (mode 0600, not through a symbolic link).
    package func backup(into path: String) throws -> Int {
        guard let sqlite = database as? SQLiteStore else {
            throw StoreError(
                .badRequest,
                "the audit store is in PostgreSQL (\(database.location)): back it up with pg_dump (docs/deployment.md)"
            )
        }
        let destination = try DatabaseQueue(path: path)
        try sqlite.pool.backup(to: destination)
        try destination.close()
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        return (attributes[.size] as? Int) ?? 0
    }

    package func query(_ filter: AuditFilter) throws -> [AuditRecord] {
        var clauses: [String] = []
        var arguments = SQLArguments([] as [SQLValue])
        if let subject = filter.subject {
            clauses.append("subject = ?")
            arguments.append(subject)
        }
        if let action = filter.action {
            if action.hasSuffix("*") || action.hasSuffix(".") {
                // A prefix compared exactly (case-sensitive, `_` literal, unlike LIKE), on both backends.
                let prefix = action.trimmingCharacters(in: CharacterSet(charactersIn: "*"))
                clauses.append("substr(action, 1, \(prefix.count)) = ?")
                arguments.append(prefix)
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
        return try database.read { db in
            try SQLRow.fetchAll(db, sql: sql, arguments: arguments).map { row in
                let details: JSONValue? = (row["details"] as String?).flatMap {
                    try? JSONParser.parse(Data($0.utf8))
                }
                let event = AuditEvent(
                    publisher: row["publisher"],
                    incarnation: row["incarnation"],
                    seq: row["seq"],
                    at: Date(storeValue: row["at"]),
                    action: row["action"],
                    subject: row["subject"],
                    actor: row["actor"],
                    result: AuditResult(rawValue: row["result"]) ?? .failure,
                    from: row["fromStatus"],
                    to: row["toStatus"],
                    reason: row["reason"],
                    details: details
                )
                return AuditRecord(id: row["id"], event: event)
            }
        }
    }

    /// The highest row id stored, for followers that want only what comes next.
    package func lastId() throws -> Int64 {
        try database.read { db in try Int64.fetchOne(db, sql: "SELECT MAX(id) FROM audit_event") ?? 0 }
    }
}
