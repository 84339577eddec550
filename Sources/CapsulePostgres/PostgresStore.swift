import CapsuleStore
import Foundation
import Logging
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
    private let logger: Logger
    // Each link is used under its lock only (one transaction at a time per connection).
    private let writerLock = NSLock()
    private var writer: PostgresLink
    private let readerLock = NSLock()
    private var reader: PostgresLink
    /// A statement added in front of every write transaction; it must fail when the writer may no
    /// longer write (the broker's lease fence).
    private let fence = Mutex<(sql: String, arguments: SQLArguments)?>(nil)
    private static let placeholders = Mutex<[String: String]>([:])

    package init(location: PostgresLocation, schema: String, applicationName: String = "capsule", logger: Logger = Logger(label: "capsule.store.postgres")) {
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
    package static func open(location: PostgresLocation, schema: StoreSchema, applicationName: String = "capsule",
                             logger: Logger = Logger(label: "capsule.store.postgres")) throws -> PostgresStore {
        let store = PostgresStore(location: location, schema: location.schema(schema.name), applicationName: applicationName, logger: logger)
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
                    throw StoreError(.unavailable, "\(location): this broker no longer holds the lease, so it writes nothing")
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

/// One connection's lifetime: opened on demand, dropped when it fails.
struct PostgresLink {
    struct Settings: Sendable {
        var location: PostgresLocation
        var schema: String
        var applicationName: String
    }

    let settings: Settings
    let group: MultiThreadedEventLoopGroup
    let logger: Logger
    var connection: PostgresConnection?
    private static let ids = Atomic<Int>(0)

    init(settings: Settings, group: MultiThreadedEventLoopGroup, logger: Logger) {
        self.settings = settings
        self.group = group
        self.logger = logger
    }

    mutating func close() {
        if let connection {
            // postgres-nio insists a connection is closed before it is released.
            _ = try? PostgresWait.wait(connection.close(), seconds: 5)
        }
        connection = nil
    }

    mutating func open(store: PostgresStore) throws -> PostgresConnection {
        if let connection, !connection.isClosed { return connection }
        connection = nil
        let location = settings.location
        var configuration: PostgresConnection.Configuration
        if let socket = location.socketPath {
            configuration = .init(unixSocketPath: socket, username: location.user, password: location.password, database: location.database)
        } else {
            let tls: PostgresConnection.Configuration.TLS
            if location.requireTLS {
                tls = .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
            } else {
                tls = .disable
            }
            configuration = .init(host: location.host, port: location.port, username: location.user, password: location.password,
                                  database: location.database, tls: tls)
        }
        configuration.options.connectTimeout = .milliseconds(Int64(location.timeoutSeconds * 1000))
        configuration.options.additionalStartupParameters = [
            ("search_path", "\"\(settings.schema)\""), ("application_name", settings.applicationName),
        ]
        let id = Self.ids.add(1, ordering: .relaxed).newValue
        let future = PostgresConnection.connect(on: group.next(), configuration: configuration, id: id, logger: logger)
        do {
            let opened = try PostgresWait.wait(future, seconds: location.timeoutSeconds + 1)
            connection = opened
            return opened
        } catch let error as PostgresWait.TimedOut {
            _ = error
            throw store.unavailable("no connection within \(Int(location.timeoutSeconds)) s")
        } catch {
            throw store.unavailable(PostgresErrors.describe(error))
        }
    }
}

/// Waits for a future on the calling thread, with a deadline.
enum PostgresWait {
    struct TimedOut: Error {}

    final class Box<T: Sendable>: @unchecked Sendable {
        var result: Result<T, any Error>?
        let semaphore = DispatchSemaphore(value: 0)
    }

    static func wait<T: Sendable>(_ future: EventLoopFuture<T>, seconds: Double) throws -> T {
        let box = Box<T>()
        future.whenComplete { result in
            box.result = result
            box.semaphore.signal()
        }
        guard box.semaphore.wait(timeout: .now() + seconds) == .success, let result = box.result else { throw TimedOut() }
        return try result.get()
    }
}

/// Server and connection errors as messages that say what happened (PSQLError's own description
/// hides everything, by design).
enum PostgresErrors {
    static func describe(_ error: any Error) -> String {
        guard let error = error as? PSQLError else { return "\(error)" }
        if let info = error.serverInfo {
            let state = info[.sqlState].map { " (SQLSTATE \($0))" } ?? ""
            return (info[.message] ?? "server error") + state
        }
        if let underlying = error.underlying { return "\(error.code): \(underlying)" }
        return "\(error.code)"
    }

    /// True when the connection is gone or unusable: a closed socket, a refused connection, a
    /// server shutting down (SQLSTATE 57P0x) or a connection exception (08xxx).
    static func isConnectionLoss(_ error: any Error) -> Bool {
        guard let error = error as? PSQLError else { return !(error is StoreError) && !(error is PostgresServerError) }
        if let state = error.serverInfo?[.sqlState] {
            return state.hasPrefix("08") || state.hasPrefix("57P")
        }
        return error.code != .server
    }
}

/// A statement the server refused, with its SQLSTATE.
package struct PostgresServerError: Error, Sendable, CustomStringConvertible {
    package var sqlState: String
    package var message: String
    package var description: String { "\(message) (SQLSTATE \(sqlState))" }
}

/// The ``SQLConnection`` handed to a store function: one transaction's statements on one
/// connection. While `deferring`, statements that return nothing are sent without waiting; the
/// next read, or the commit, waits for all of them.
final class PostgresConnectionHandle: SQLConnection {
    let connection: PostgresConnection
    unowned let store: PostgresStore
    let deferring: Bool
    let timeout: Double
    private var pending: [EventLoopFuture<PostgresQueryResult>] = []
    private(set) var deferredFailure: (any Error)?
    private var savepoints = 0
    private var lost = false
    private let closeLink: () -> Void
    var dialect: SQLDialect { .postgres }

    init(link: inout PostgresLink, store: PostgresStore, deferring: Bool) throws {
        connection = try link.open(store: store)
        self.store = store
        self.deferring = deferring
        timeout = link.settings.location.timeoutSeconds
        let connection = connection
        closeLink = { _ = try? PostgresWait.wait(connection.close(), seconds: 5) }
    }

    private func query(_ sql: String, _ arguments: SQLArguments) -> EventLoopFuture<PostgresQueryResult> {
        var bindings = PostgresBindings(capacity: arguments.values.count)
        for value in arguments.values {
            switch value {
            case .null: bindings.appendNull()
            case .integer(let number): bindings.append(number)
            case .real(let number): bindings.append(number)
            case .text(let text): bindings.append(text)
            case .blob(let data): bindings.append(ByteBuffer(bytes: data))
            }
        }
        let text = arguments.values.isEmpty ? sql : PostgresStore.numbered(sql)
        return connection.query(PostgresQuery(unsafeSQL: text, binds: bindings), logger: store.loggerForQueries)
    }

    private func answer(_ future: EventLoopFuture<PostgresQueryResult>) throws -> PostgresQueryResult {
        do {
            return try PostgresWait.wait(future, seconds: timeout)
        } catch is PostgresWait.TimedOut {
            lost = true
            closeLink()
            throw store.unavailable("no answer within \(Int(timeout)) s")
        } catch {
            if PostgresErrors.isConnectionLoss(error) {
                lost = true
                closeLink()
                throw store.unavailable(PostgresErrors.describe(error))
            }
            if let psql = error as? PSQLError, let info = psql.serverInfo {
                throw PostgresServerError(sqlState: info[.sqlState] ?? "", message: info[.message] ?? "server error")
            }
            throw error
        }
    }

    /// Waits for every deferred statement; throws the first failure.
    private func flush() throws {
        let waiting = pending
        pending.removeAll()
        var first: (any Error)?
        for future in waiting {
            do { _ = try answer(future) } catch {
                if first == nil { first = error }
                if lost { break }
            }
        }
        if let first {
            if deferredFailure == nil { deferredFailure = first }
            throw first
        }
    }

    func execute(sql: String, arguments: SQLArguments) throws {
        // Several statements in one string (migrations): PostgreSQL's extended protocol takes one at a time.
        if arguments.values.isEmpty && sql.contains(";") {
            for statement in PostgresMigrator.statements(sql) { try execute(sql: statement, arguments: []) }
            return
        }
        if lost { throw store.unavailable("the connection was lost") }
        let future = query(sql, arguments)
        if deferring {
            pending.append(future)
        } else {
            try flush()
            _ = try answer(future)
        }
    }

    func executeCounting(sql: String, arguments: SQLArguments) throws -> Int {
        if lost { throw store.unavailable("the connection was lost") }
        let future = query(sql, arguments)
        try flush()
        return try answer(future).metadata.rows ?? 0
    }

    func fetchRows(sql: String, arguments: SQLArguments) throws -> [SQLRow] {
        if lost { throw store.unavailable("the connection was lost") }
        let future = query(sql, arguments)
        do { try flush() } catch {
            _ = try? answer(future)
            throw error
        }
        let result = try answer(future)
        return try result.rows.map(Self.row)
    }

    /// Sends the last statement (COMMIT), waits for everything, returns its command tag.
    func finish(sql: String) throws -> String {
        if lost { throw store.unavailable("the connection was lost") }
        let future = query(sql, [])
        try flush()
        return try answer(future).metadata.command
    }

    func rollback() {
        guard !lost else { return }
        pending.removeAll()
        _ = try? answer(query("ROLLBACK", []))
    }

    func inSavepoint<T>(_ body: () throws -> T) throws -> T {
        savepoints += 1
        let name = "s\(savepoints)"
        try execute(sql: "SAVEPOINT \(name)", arguments: [])
        do {
            let value = try body()
            try execute(sql: "RELEASE SAVEPOINT \(name)", arguments: [])
            return value
        } catch {
            if !lost { try execute(sql: "ROLLBACK TO SAVEPOINT \(name)", arguments: []) }
            throw error
        }
    }

    static func row(_ row: PostgresRow) throws -> SQLRow {
        var names: [String] = []
        var values: [SQLValue] = []
        for cell in row {
            names.append(cell.columnName)
            values.append(try value(cell))
        }
        return SQLRow(names: names, values: values)
    }

    static func value(_ cell: PostgresCell) throws -> SQLValue {
        guard cell.bytes != nil else { return .null }
        switch cell.dataType {
        case .int2, .int4, .int8, .oid: return .integer(try cell.decode(Int64.self))
        case .float4, .float8: return .real(try cell.decode(Double.self))
        case .bool: return .integer(try cell.decode(Bool.self) ? 1 : 0)
        case .bytea: return .blob(Data(try cell.decode(ByteBuffer.self).readableBytesView))
        case .numeric: return .real(Double(try cell.decode(String.self)) ?? 0)
        default: return .text(try cell.decode(String.self))
        }
    }
}

extension PostgresStore {
    var loggerForQueries: Logger { logger }
}
