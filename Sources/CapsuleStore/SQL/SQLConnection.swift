import Foundation

/// The SQL dialects the stores run on. Statements are written once, with `?` placeholders and
/// portable SQL (`INSERT … ON CONFLICT`, row values, `substr`); the few places that differ ask.
package enum SQLDialect: String, Sendable, Hashable {
    case sqlite
    case postgres
}

/// One connection inside a read or a write transaction: what every store function takes. SQLite's
/// is a GRDB `Database`; PostgreSQL's is a connection of postgres-nio driven synchronously from the
/// caller's thread.
package protocol SQLConnection: AnyObject {
    var dialect: SQLDialect { get }
    /// Runs a statement whose result is not needed. A backend may defer it (PostgreSQL sends it at
    /// once and waits for its answer with the next read or the commit); its error then surfaces there.
    func execute(sql: String, arguments: SQLArguments) throws
    /// Runs a statement and returns how many rows it changed (waits for the answer).
    func executeCounting(sql: String, arguments: SQLArguments) throws -> Int
    /// Runs a query and returns every row.
    func fetchRows(sql: String, arguments: SQLArguments) throws -> [SQLRow]
    /// Runs `body` in a savepoint: rolled back alone if it throws.
    func inSavepoint<T>(_ body: () throws -> T) throws -> T
    /// Appends rows to `table`, each value in `columns`' order, in one bulk transfer where the
    /// backend has one (PostgreSQL's `COPY … FROM STDIN`), else one INSERT per row. A row that a
    /// unique key already holds fails the whole call with `StoreError(.conflict)` on PostgreSQL: run
    /// it in a savepoint to go on.
    func copy(into table: String, columns: [String], rows: [[SQLValue]]) throws
}

extension SQLConnection {
    package func execute(sql: String) throws { try execute(sql: sql, arguments: []) }

    package func copy(into table: String, columns: [String], rows: [[SQLValue]]) throws {
        let marks = Array(repeating: "?", count: columns.count).joined(separator: ", ")
        let sql = "INSERT INTO \(table) (\(columns.joined(separator: ", "))) VALUES (\(marks))"
        for row in rows { try execute(sql: sql, arguments: SQLArguments(row)) }
    }
}

extension SQLRow {
    package static func fetchAll(_ db: any SQLConnection, sql: String, arguments: SQLArguments = []) throws -> [SQLRow]
    {
        try db.fetchRows(sql: sql, arguments: arguments)
    }

    package static func fetchOne(_ db: any SQLConnection, sql: String, arguments: SQLArguments = []) throws -> SQLRow? {
        try db.fetchRows(sql: sql, arguments: arguments).first
    }
}

extension SQLValueConvertible {
    /// The first column of the first row; nil when there is no row or the value is NULL.
    package static func fetchOne(_ db: any SQLConnection, sql: String, arguments: SQLArguments = []) throws -> Self? {
        try db.fetchRows(sql: sql, arguments: arguments).first.flatMap { Self.fromSQL($0[0]) }
    }

    /// The first column of every row (NULLs skipped).
    package static func fetchAll(_ db: any SQLConnection, sql: String, arguments: SQLArguments = []) throws -> [Self] {
        try db.fetchRows(sql: sql, arguments: arguments).compactMap { Self.fromSQL($0[0]) }
    }
}
