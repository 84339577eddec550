import CapsuleStore
import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import PostgresNIO
import Synchronization

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
    /// How long the server lets a transaction of ours sit idle before it rolls it back.
    static let abandonedTransactionSeconds = 10

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
            configuration = .init(
                unixSocketPath: socket,
                username: location.user,
                password: location.password,
                database: location.database
            )
        } else {
            let tls: PostgresConnection.Configuration.TLS
            if location.requireTLS {
                tls = .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
            } else {
                tls = .disable
            }
            configuration = .init(
                host: location.host,
                port: location.port,
                username: location.user,
                password: location.password,
                database: location.database,
                tls: tls
            )
        }
        configuration.options.connectTimeout = .milliseconds(Int64(location.timeoutSeconds * 1000))
        // A transaction of a Capsule process that stops answering mid-way (frozen, or gone with its
        // socket held open) is rolled back by the server, so it holds no lock for longer than this.
        configuration.options.additionalStartupParameters = [
            ("search_path", "\"\(settings.schema)\""), ("application_name", settings.applicationName),
            ("idle_in_transaction_session_timeout", "\(Self.abandonedTransactionSeconds)s"),
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
