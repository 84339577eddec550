import CapsuleDomain
import CapsuleStore
import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import PostgresNIO
import Synchronization

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
        return connection.query(PostgresQuery(unsafeSQL: text, binds: bindings), logger: store.logger)
    }

    private func answer<T: Sendable>(_ future: EventLoopFuture<T>) throws -> T {
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
                let state = info[.sqlState] ?? ""
                let message = info[.message] ?? "server error"
                // A unique or primary key already holds the row (SQLSTATE 23505).
                if state == "23505" { throw StoreError(.conflict, "\(store.location): \(message)") }
                throw PostgresServerError(sqlState: state, message: message)
            }
            throw error
        }
    }

    /// Appends `rows` with one `COPY … FROM STDIN` in the text format: one round trip and no
    /// statement to plan, however many rows. Column names are lower case, as PostgreSQL folds the
    /// unquoted names the migrations created.
    func copy(into table: String, columns: [String], rows: [[SQLValue]]) throws {
        if lost { throw store.unavailable("the connection was lost") }
        try flush()
        var buffer = ByteBufferAllocator().buffer(capacity: rows.count * 256)
        for row in rows {
            for (index, value) in row.enumerated() {
                if index > 0 { buffer.writeInteger(UInt8(ascii: "\t")) }
                Self.writeCopyText(value, into: &buffer)
            }
            buffer.writeInteger(UInt8(ascii: "\n"))
        }
        let connection = connection
        let logger = store.logger
        let names = columns.map { $0.lowercased() }
        let data = buffer
        let promise = connection.eventLoop.makePromise(of: Void.self)
        Task(executorPreference: CopyExecutor.shared) {
            do {
                try await connection.copyFrom(table: table, columns: names, logger: logger) { writer in
                    try await writer.write(data)
                }
                promise.succeed()
            } catch {
                promise.fail(error)
            }
        }
        _ = try answer(promise.futureResult)
    }

    /// One value in COPY's text format: `\N` for NULL; backslash, tab, newline and carriage return
    /// escaped; bytea as `\\x` and hex.
    static func writeCopyText(_ value: SQLValue, into buffer: inout ByteBuffer) {
        switch value {
        case .null: buffer.writeStaticString("\\N")
        case .integer(let number): buffer.writeString(String(number))
        case .real(let number): buffer.writeString(number.description)
        case .text(let text):
            // Most text needs no escape: then it goes in whole.
            guard text.utf8.contains(where: { $0 == 0x5C || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D }) else {
                buffer.writeString(text)
                return
            }
            for byte in text.utf8 {
                switch byte {
                case UInt8(ascii: "\\"): buffer.writeStaticString("\\\\")
                case UInt8(ascii: "\t"): buffer.writeStaticString("\\t")
                case UInt8(ascii: "\n"): buffer.writeStaticString("\\n")
                case UInt8(ascii: "\r"): buffer.writeStaticString("\\r")
                default: buffer.writeInteger(byte)
                }
            }
        case .blob(let data):
            buffer.writeStaticString("\\\\x")
            for byte in data {
                buffer.writeInteger(Hex.digits[Int(byte >> 4)])
                buffer.writeInteger(Hex.digits[Int(byte & 0x0f)])
            }
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
