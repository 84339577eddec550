package import CapsuleStore
import Foundation

/// PostgreSQL's migrations as code: each store's steps (``StoreSchema/postgres``) are applied once,
/// in order, in one transaction each, and recorded in the store schema's `capsule_migration`
/// table. An advisory lock serialises two processes starting at once (two brokers on one store).
/// A store whose recorded steps this binary does not know (a newer release wrote it) is refused.
package enum PostgresMigrator {
    package static func migrate(_ store: PostgresStore, schema: StoreSchema, upTo last: String? = nil) throws {
        let quoted = "\"\(store.schemaName.replacingOccurrences(of: "\"", with: ""))\""
        try store.withWriter { connection in
            try connection.execute(
                sql: "SELECT pg_advisory_lock(hashtext(?))",
                arguments: ["capsule.migrate." + store.schemaName]
            )
            defer {
                _ = try? connection.fetchRows(
                    sql: "SELECT pg_advisory_unlock(hashtext(?))",
                    arguments: ["capsule.migrate." + store.schemaName]
                )
            }
            try connection.execute(sql: "CREATE SCHEMA IF NOT EXISTS \(quoted)", arguments: [])
            try connection.execute(
                sql: """
                    CREATE TABLE IF NOT EXISTS capsule_migration (id TEXT PRIMARY KEY, appliedAt DOUBLE PRECISION NOT NULL)
                    """,
                arguments: []
            )
            let applied = Set(try String.fetchAll(connection, sql: "SELECT id FROM capsule_migration"))
            let known = Set(schema.postgres.map(\.id))
            if let unknown = applied.subtracting(known).sorted().first {
                throw StoreError(
                    .corrupt,
                    "\(store.location) holds migration \(unknown), which this release does not know: it was written by a newer Capsule; run that release, or restore a backup"
                )
            }
            for migration in schema.postgres where !applied.contains(migration.id) {
                try connection.execute(sql: "BEGIN", arguments: [])
                do {
                    for statement in statements(migration.sql) { try connection.execute(sql: statement, arguments: []) }
                    try connection.execute(
                        sql: "INSERT INTO capsule_migration (id, appliedAt) VALUES (?, ?)",
                        arguments: [migration.id, Date().timeIntervalSince1970]
                    )
                    try connection.execute(sql: "COMMIT", arguments: [])
                } catch {
                    connection.rollback()
                    throw error
                }
                if migration.id == last { break }
            }
        }
    }

    /// The migrations applied to the store, oldest first.
    package static func applied(_ store: PostgresStore) throws -> [String] {
        try store.read { db in try String.fetchAll(db, sql: "SELECT id FROM capsule_migration ORDER BY appliedAt, id") }
    }

    /// Splits a migration into statements at its semicolons (the stores' SQL holds none inside literals).
    static func statements(_ sql: String) -> [String] {
        sql.split(separator: ";").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }.filter { !$0.isEmpty }
    }
}
