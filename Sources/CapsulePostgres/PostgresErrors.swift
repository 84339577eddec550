import CapsuleStore
import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import PostgresNIO
import Synchronization

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
