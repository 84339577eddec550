import CapsuleStore
import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import PostgresNIO
import Synchronization

/// A statement the server refused, with its SQLSTATE.
package struct PostgresServerError: Error, Sendable, CustomStringConvertible {
    package var sqlState: String
    package var message: String
    package var description: String { "\(message) (SQLSTATE \(sqlState))" }
}
