package import Foundation
package import GRDB

/// SQLite's migrations: GRDB's migrator (its `grdb_migrations` table is what older stores hold).
package typealias SQLiteMigrations = DatabaseMigrator

/// The embedded default backend: one SQLite file per store in the home, WAL, foreign keys, secure
/// delete, through GRDB's pool (one writer, concurrent readers).
package final class SQLiteStore: SQLStore {
    package let pool: DatabasePool
    package let location: String
    package var dialect: SQLDialect { .sqlite }

    init(pool: DatabasePool, location: String) {
        self.pool = pool
        self.location = location
    }

    /// Opens (and migrates) the store at `url`. A missing file is created. A file that exists but is
    /// empty or is not a readable Capsule store is refused with a one-line error naming the file,
    /// unless `initialize` is set: then it is moved aside (`<name>.broken-<time>`) and a new store
    /// is created, which starts a new journal incarnation (design §6).
    package static func open(at url: URL, schema: StoreSchema, initialize: Bool = false) throws -> SQLiteStore {
        let pool = try open(at: url, migrator: schema.sqlite, initialize: initialize)
        if !schema.sqliteWriterPragmas.isEmpty {
            try pool.writeWithoutTransaction { db in
                for pragma in schema.sqliteWriterPragmas { try db.execute(sql: pragma) }
            }
        }
        return SQLiteStore(pool: pool, location: url.path)
    }

    package static func open(at url: URL, migrator: DatabaseMigrator, initialize: Bool = false) throws -> DatabasePool {
        try FileManager.default.createDirectory(
            at: url.deletingLastPathComponent(),
            withIntermediateDirectories: true,
            attributes: [.posixPermissions: 0o700]
        )
        let path = url.path
        if let size = (try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int, size == 0 {
            guard initialize else {
                throw StoreError(
                    .corrupt,
                    "\(path) is empty (0 bytes): it was truncated or reset. Restore it from a backup, or pass --init-store to start a new, empty store (the audit writer then follows its new journal incarnation)"
                )
            }
            try moveAside(url)
        }
        if !FileManager.default.fileExists(atPath: path) { try create(path: path, migrator: migrator) }
        do {
            return try openPool(path: path, migrator: migrator)
        } catch let error as DatabaseError {
            guard initialize, FileManager.default.fileExists(atPath: path) else {
                throw StoreError(
                    .corrupt,
                    "\(path) is not a readable Capsule store (\(error.resultCode)): restore it from a backup, or pass --init-store to start a new, empty store"
                )
            }
            try moveAside(url)
            return try openPool(path: path, migrator: migrator)
        }
    }

    /// A new store is migrated under a temporary name and renamed into place, so a process killed
    /// while it creates its store (at first start) leaves no empty file that the next start would
    /// have to refuse as truncated.
    private static func create(path: String, migrator: DatabaseMigrator) throws {
        let temporary = path + ".new"
        for suffix in ["", "-journal", "-wal", "-shm"] {
            try? FileManager.default.removeItem(atPath: temporary + suffix)
        }
        do {
            let queue = try DatabaseQueue(path: temporary)
            try migrator.migrate(queue)
            try queue.close()
        }
        guard rename(temporary, path) == 0 else {
            throw StoreError(.corrupt, "cannot create \(path): \(String(cString: strerror(errno)))")
        }
    }

    private static func openPool(path: String, migrator: DatabaseMigrator) throws -> DatabasePool {
        var configuration = Configuration()
        configuration.busyMode = .timeout(5)
        configuration.prepareDatabase { db in
            // Deleted rows are overwritten, so redacted-away values do not linger in free pages.
            try db.execute(sql: "PRAGMA secure_delete = ON")
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        let pool = try DatabasePool(path: path, configuration: configuration)
        try migrator.migrate(pool)
        return pool
    }

    private static func moveAside(_ url: URL) throws {
        let stamp = Int(Date().timeIntervalSince1970)
        for suffix in ["", "-wal", "-shm"] {
            let from = URL(fileURLWithPath: url.path + suffix)
            guard FileManager.default.fileExists(atPath: from.path) else { continue }
            try FileManager.default.moveItem(at: from, to: URL(fileURLWithPath: url.path + ".broken-\(stamp)" + suffix))
        }
    }

    package func read<T>(_ body: (any SQLConnection) throws -> T) throws -> T {
        try pool.read { db in try body(SQLiteConnection(db)) }
    }

    package func write<T>(_ body: (any SQLConnection) throws -> T) throws -> T {
        try pool.write { db in try body(SQLiteConnection(db)) }
    }

    package func close() { try? pool.close() }
}

/// A GRDB `Database` seen through ``SQLConnection``; statements are cached per connection.
package final class SQLiteConnection: SQLConnection {
    package let db: Database
    package var dialect: SQLDialect { .sqlite }

    package init(_ db: Database) { self.db = db }

    /// GRDB's arguments for ours. Built from optional existentials: GRDB's initialiser over a
    /// sequence of `DatabaseValue` maps it through a key path, which unspecialised across modules
    /// cost a tenth of the audit writer's CPU on replay (perf, Benchmarks/README.md).
    static func arguments(_ arguments: SQLArguments) -> StatementArguments {
        var values: [(any DatabaseValueConvertible)?] = []
        values.reserveCapacity(arguments.values.count)
        for value in arguments.values {
            switch value {
            case .null: values.append(nil)
            case .integer(let number): values.append(number)
            case .real(let number): values.append(number)
            case .text(let text): values.append(text)
            case .blob(let data): values.append(data)
            }
        }
        return StatementArguments(values)
    }

    /// Runs SQL that may hold several statements (migrations) or one cached statement.
    package func execute(sql: String, arguments: SQLArguments) throws {
        if arguments.values.isEmpty && sql.contains(";") {
            try db.execute(sql: sql)
        } else {
            try db.cachedStatement(sql: sql).execute(arguments: Self.arguments(arguments))
        }
    }

    package func executeCounting(sql: String, arguments: SQLArguments) throws -> Int {
        try db.cachedStatement(sql: sql).execute(arguments: Self.arguments(arguments))
        return db.changesCount
    }

    package func fetchRows(sql: String, arguments: SQLArguments) throws -> [SQLRow] {
        let statement = try db.cachedStatement(sql: sql)
        let names = statement.columnNames
        return try Row.fetchAll(statement, arguments: Self.arguments(arguments)).map { row in
            SQLRow(
                names: names,
                values: row.databaseValues.map { value in
                    switch value.storage {
                    case .null: .null
                    case .int64(let number): .integer(number)
                    case .double(let number): .real(number)
                    case .string(let text): .text(text)
                    case .blob(let data): .blob(data)
                    }
                }
            )
        }
    }

    package func inSavepoint<T>(_ body: () throws -> T) throws -> T {
        var result: T?
        try db.inSavepoint {
            result = try body()
            return .commit
        }
        return result!
    }
}

extension Date {
    /// Seconds since 1970, as stored in every Capsule table.
    package var storeValue: Double { timeIntervalSince1970 }
    package init(storeValue: Double) { self.init(timeIntervalSince1970: storeValue) }
}
