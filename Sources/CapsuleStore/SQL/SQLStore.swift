package import Foundation
import GRDB

/// A store's database, whichever backend holds it: transactions on a connection.
///
/// Reads run on a reader (they see committed data only); writes run in one transaction on the
/// single writer. Every store keeps its SQL inside functions that take an ``SQLConnection``, so
/// the daemons do not know which backend they run on.
package protocol SQLStore: AnyObject, Sendable {
    var dialect: SQLDialect { get }
    /// Where the store is, for messages: a file path or a `postgres://` URL without its password.
    var location: String { get }
    func read<T>(_ body: (any SQLConnection) throws -> T) throws -> T
    /// One transaction: committed when `body` returns, rolled back when it throws.
    func write<T>(_ body: (any SQLConnection) throws -> T) throws -> T
    /// Like ``write(_:)``, but with each statement's answer awaited before the next is sent, so a
    /// failing statement throws where it runs (see ``WriteBatch``). The same as `write` on SQLite.
    func writeAwaitingEach<T>(_ body: (any SQLConnection) throws -> T) throws -> T
    /// One statement on the writer outside any explicit transaction, so it commits as it completes
    /// on the server: a client that freezes or vanishes after sending it holds no lock (the broker
    /// lease). The same as `write` on SQLite.
    func autocommit<T>(_ body: (any SQLConnection) throws -> T) throws -> T
    /// Closes connections; later calls fail.
    func close()
    /// Sets (or clears, with nil) a statement run first in every write transaction, which must fail
    /// when this process may no longer write: the broker lease's fence. Only shared stores have one.
    func setWriteFence(_ sql: String?, arguments: SQLArguments)
}

extension SQLStore {
    package func writeAwaitingEach<T>(_ body: (any SQLConnection) throws -> T) throws -> T { try write(body) }
    package func autocommit<T>(_ body: (any SQLConnection) throws -> T) throws -> T { try write(body) }
    package func setWriteFence(_ sql: String?, arguments: SQLArguments) {}
}

/// What a store is made of on each backend: its name and its migrations as code.
package struct StoreSchema: Sendable {
    /// `broker`, `aggregator` or `audit`: the SQLite file's name and the PostgreSQL schema's.
    package var name: String
    package var sqlite: SQLiteMigrations
    package var postgres: [Migration]
    /// Every table, in an order that respects references: what ``StoreCopy`` copies and counts.
    package var tables: [String]
    /// Statements run on PostgreSQL after a copy (moving sequences past the copied ids).
    package var postgresAfterCopy: [String]
    /// PRAGMAs for the SQLite writer's connection only (readers keep SQLite's defaults).
    package var sqliteWriterPragmas: [String]

    /// One step of a PostgreSQL schema; applied once, in order, recorded in `capsule_migration`.
    package struct Migration: Sendable {
        package var id: String
        package var sql: String
        package init(_ id: String, _ sql: String) {
            self.id = id
            self.sql = sql
        }
    }

    package init(
        name: String,
        sqlite: SQLiteMigrations,
        postgres: [Migration],
        tables: [String] = [],
        postgresAfterCopy: [String] = [],
        sqliteWriterPragmas: [String] = []
    ) {
        self.name = name
        self.sqlite = sqlite
        self.postgres = postgres
        self.tables = tables
        self.postgresAfterCopy = postgresAfterCopy
        self.sqliteWriterPragmas = sqliteWriterPragmas
    }

    /// The last migration's id.
    package var version: String { postgres.last?.id ?? "" }
}

/// Opens a store's database on the configured backend (`--store`): the SQLite file in the home by
/// default, or a PostgreSQL database. The PostgreSQL opener lives in `CapsulePostgres`, so only
/// the executables and the tests link postgres-nio.
package struct StoreOpener: Sendable {
    package var description: String
    /// The folder of the SQLite files, for an SQLite opener.
    package private(set) var sqliteDirectory: URL?
    private let openStore: @Sendable (StoreSchema, Bool) throws -> any SQLStore

    package init(description: String, open: @escaping @Sendable (StoreSchema, Bool) throws -> any SQLStore) {
        self.description = description
        self.openStore = open
    }

    /// Opens and migrates `schema`; `initialize` is `--init-store`.
    package func open(_ schema: StoreSchema, initialize: Bool = false) throws -> any SQLStore {
        try openStore(schema, initialize)
    }

    /// True for a store other processes share (PostgreSQL), which a broker pair needs.
    package var isShared: Bool { description.hasPrefix("postgres") }

    /// SQLite files in `directory`, named after each schema (`broker.sqlite`…).
    package static func sqlite(directory: URL) -> StoreOpener {
        var opener = StoreOpener(description: directory.path) { schema, initialize in
            try SQLiteStore.open(
                at: directory.appendingPathComponent("\(schema.name).sqlite"),
                schema: schema,
                initialize: initialize
            )
        }
        opener.sqliteDirectory = directory
        return opener
    }
}
