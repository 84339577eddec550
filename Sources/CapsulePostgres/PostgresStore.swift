package import CapsuleStore
import Foundation
package import Logging
import NIOCore
import NIOPosix
import NIOSSL
import PostgresNIO
import Synchronization

/// A store in PostgreSQL, driven synchronously from the daemon's loop thread: each call sends its
/// statements to postgres-nio's event loop and blocks this thread (never a NIO or cooperative-pool
/// thread) on the answer, with a deadline.
///
/// One writer connection and one reader connection, each behind a lock, both set to the store's
/// schema at startup (so the SQL is the same as on SQLite). A connection that fails is dropped and
/// opened again on next use; while the server cannot be reached every call throws
/// `StoreError(.unavailable)` naming the store, at once rather than after a timeout when the
/// server refuses connections.
package final class PostgresStore: SQLStore, @unchecked Sendable {
    package let locationInfo: PostgresLocation
    package let schemaName: String
    package var dialect: SQLDialect { .postgres }
    package var location: String { "\(locationInfo)#\(schemaName)" }

    private let group: MultiThreadedEventLoopGroup
    let logger: Logger
    // Each link is used under its lock only (one transaction at a time per connection).
    private let writerLock = NSLock()
    private var writer: PostgresLink
    private let readerLock = NSLock()
    private var reader: PostgresLink
    /// A statement added in front of every write transaction; it must fail when the writer may no
    /// longer write (the broker's lease fence).
    private let fence = Mutex<(sql: String, arguments: SQLArguments)?>(nil)
    private static let placeholders = Mutex<[String: String]>([:])

    package init(
        location: PostgresLocation,
        schema: String,
        applicationName: String = "capsule",
        logger: Logger = Logger(label: "capsule.store.postgres")
    ) {
        self.locationInfo = location
        self.schemaName = schema
        self.logger = logger
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let settings = PostgresLink.Settings(location: location, schema: schema, applicationName: applicationName)
        writer = PostgresLink(settings: settings, group: group, logger: logger)
        reader = PostgresLink(settings: settings, group: group, logger: logger)
    }

    deinit {
        close()
        try? group.syncShutdownGracefully()
    }

    /// Opens the store `schema.name` at `location`, creating its schema and applying missing migrations.
    package static func open(
        location: PostgresLocation,
        schema: StoreSchema,
        applicationName: String = "capsule",
        logger: Logger = Logger(label: "capsule.store.postgres")
    ) throws -> PostgresStore {
        let store = PostgresStore(
            location: location,
            schema: location.schema(schema.name),
            applicationName: applicationName,
            logger: logger
        )
        try PostgresMigrator.migrate(store, schema: schema)
        return store
    }

    package func close() {
        writerLock.withLock { writer.close() }
        readerLock.withLock { reader.close() }
    }

    /// Sets (or clears) the statement that starts every write transaction.
    package func setWriteFence(_ sql: String?, arguments: SQLArguments) {
        fence.withLock { $0 = sql.map { ($0, arguments) } }
    }

    package func read<T>(_ body: (any SQLConnection) throws -> T) throws -> T {
        readerLock.lock()
        defer { readerLock.unlock() }
        let connection = try PostgresConnectionHandle(link: &reader, store: self, deferring: false)
        return try body(connection)
    }

    package func write<T>(_ body: (any SQLConnection) throws -> T) throws -> T {
        try transaction(deferring: true, body)
    }

    package func writeAwaitingEach<T>(_ body: (any SQLConnection) throws -> T) throws -> T {
        try transaction(deferring: false, body)
    }

    package func autocommit<T>(_ body: (any SQLConnection) throws -> T) throws -> T {
        try withWriter(body)
    }

    /// Runs `body` with the writer outside any transaction (migrations take their own).
    func withWriter<T>(_ body: (PostgresConnectionHandle) throws -> T) throws -> T {
        writerLock.lock()
        defer { writerLock.unlock() }
        return try body(try PostgresConnectionHandle(link: &writer, store: self, deferring: false))
    }

    private func transaction<T>(deferring: Bool, _ body: (any SQLConnection) throws -> T) throws -> T {
        let fence = fence.withLock { $0 }
        writerLock.lock()
        defer { writerLock.unlock() }
        let connection = try PostgresConnectionHandle(link: &writer, store: self, deferring: deferring)
        do {
            try connection.execute(sql: "BEGIN", arguments: [])
            if let fence {
                do {
                    try connection.execute(sql: fence.sql, arguments: fence.arguments)
                } catch let error as PostgresServerError {
                    _ = error
                    throw StoreError(
                        .unavailable,
                        "\(location): this broker no longer holds the lease, so it writes nothing"
                    )
                }
            }
            let value = try body(connection)
            let tag = try connection.finish(sql: "COMMIT")
            guard tag == "COMMIT" else {
                throw DeferredWriteError(StoreError(.conflict, "\(location): the transaction was rolled back"))
            }
            return value
        } catch {
            connection.rollback()
            let unavailable = (error as? StoreError)?.code == .unavailable
            if deferring, connection.deferredFailure != nil, !unavailable, !(error is DeferredWriteError) {
                throw DeferredWriteError(error)
            }
            throw error
        }
    }

    /// `?` placeholders as PostgreSQL's `$1, $2, …` (outside quoted text), cached per statement.
    static func numbered(_ sql: String) -> String {
        if let cached = placeholders.withLock({ $0[sql] }) { return cached }
        var result = ""
        result.reserveCapacity(sql.utf8.count + 16)
        var index = 0
        var quote: Character?
        for character in sql {
            if let open = quote {
                if character == open { quote = nil }
                result.append(character)
            } else if character == "'" || character == "\"" {
                quote = character
                result.append(character)
            } else if character == "?" {
                index += 1
                result += "$\(index)"
            } else {
                result.append(character)
            }
        }
        placeholders.withLock { cache in
            if cache.count > 4_096 { cache.removeAll() }
            cache[sql] = result
        }
        return result
    }

    func unavailable(_ reason: String) -> StoreError {
        StoreError(.unavailable, "the PostgreSQL store \(location) is unavailable: \(reason)")
    }
}
