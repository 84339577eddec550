import Foundation

/// Copies a store table by table into an empty store of the same schema on another backend (the
/// upgrade from SQLite to PostgreSQL, `capsulectl store migrate`), in one transaction on the
/// target, and checks the result by counting rows on both sides.
package enum StoreCopy {
    package struct TableCount: Sendable, Hashable {
        package var table: String
        package var source: Int
        package var target: Int
        package var matches: Bool { source == target }
    }

    /// Rows read from the source per page.
    static let page = 5_000

    package static func copy(
        _ schema: StoreSchema,
        from source: any SQLStore,
        to target: any SQLStore
    ) throws -> [TableCount] {
        for table in schema.tables {
            let held = try count(target, table)
            if held > 0 {
                throw StoreError(
                    .conflict,
                    "\(target.location): \(table) already holds \(held) rows; migrate into an empty store (nothing was copied)"
                )
            }
        }
        try target.write { db in
            for table in schema.tables {
                var after: Int64 = 0
                while true {
                    // SQLite sources are read by rowid, in pages; PostgreSQL ones by their whole table.
                    let rows: [SQLRow]
                    if source.dialect == .sqlite {
                        rows = try source.read { db in
                            try SQLRow.fetchAll(
                                db,
                                sql:
                                    "SELECT rowid AS capsule_rowid, * FROM \(table) WHERE rowid > ? ORDER BY rowid LIMIT ?",
                                arguments: [after, page]
                            )
                        }
                    } else {
                        rows =
                            after > 0
                            ? [] : try source.read { db in try SQLRow.fetchAll(db, sql: "SELECT * FROM \(table)") }
                        after = 1
                    }
                    guard let first = rows.first else { break }
                    let columns = first.names.indices.filter { first.names[$0] != "capsule_rowid" }
                    if source.dialect == .sqlite {
                        after = rows.last.flatMap { Int64.fromSQL($0.value("capsule_rowid")) } ?? after
                    }
                    try insert(
                        db,
                        table: table,
                        names: columns.map { first.names[$0] },
                        rows: rows.map { row in columns.map { row[$0] } }
                    )
                    if source.dialect != .sqlite || rows.count < page { break }
                }
            }
            if db.dialect == .postgres {
                for statement in schema.postgresAfterCopy { _ = try db.fetchRows(sql: statement, arguments: []) }
            }
        }
        return try schema.tables.map {
            TableCount(table: $0, source: try count(source, $0), target: try count(target, $0))
        }
    }

    static func insert(_ db: any SQLConnection, table: String, names: [String], rows: [[SQLValue]]) throws {
        // Under PostgreSQL's 65,535 parameters and SQLite's 32,766 per statement.
        let perStatement = max(1, 30_000 / max(1, names.count))
        var start = 0
        while start < rows.count {
            let chunk = rows[start..<min(start + perStatement, rows.count)]
            let row = "(" + Array(repeating: "?", count: names.count).joined(separator: ", ") + ")"
            let sql =
                "INSERT INTO \(table) (\(names.joined(separator: ", "))) VALUES "
                + Array(repeating: row, count: chunk.count).joined(separator: ", ")
            try db.execute(sql: sql, arguments: SQLArguments(chunk.flatMap { $0 }))
            start += chunk.count
        }
    }

    static func count(_ store: any SQLStore, _ table: String) throws -> Int {
        try store.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM \(table)") ?? 0 }
    }
}
