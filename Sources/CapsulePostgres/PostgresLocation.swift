import CapsuleStore
import Foundation

/// A `postgres://` store location: `postgres://user[:password]@host[:port]/database`, with
/// optional `?host=/socket/dir` (a unix socket, as libpq takes it), `sslmode=disable|require`,
/// `timeout=SECONDS` (a statement's answer; the connection is dropped after it) and
/// `schema=NAME` (a prefix for the per-store schemas, for several control planes in one database).
package struct PostgresLocation: Sendable, Hashable, CustomStringConvertible {
    package var user: String
    package var password: String?
    package var host: String
    package var port: Int
    package var database: String
    package var socketDirectory: String?
    package var requireTLS: Bool
    package var timeoutSeconds: Double
    package var schemaPrefix: String

    package init(
        user: String,
        password: String? = nil,
        host: String = "127.0.0.1",
        port: Int = 5432,
        database: String,
        socketDirectory: String? = nil,
        requireTLS: Bool = false,
        timeoutSeconds: Double = 10,
        schemaPrefix: String = ""
    ) {
        self.user = user
        self.password = password
        self.host = host
        self.port = port
        self.database = database
        self.socketDirectory = socketDirectory
        self.requireTLS = requireTLS
        self.timeoutSeconds = timeoutSeconds
        self.schemaPrefix = schemaPrefix
    }

    /// Parses `postgres://…` or `postgresql://…`; nil for anything else.
    package init?(_ text: String) {
        guard text.hasPrefix("postgres://") || text.hasPrefix("postgresql://"),
            let components = URLComponents(string: text)
        else {
            return nil
        }
        user = components.percentEncodedUser.flatMap { $0.removingPercentEncoding } ?? "postgres"
        password = components.percentEncodedPassword.flatMap { $0.removingPercentEncoding }
        host = components.host.flatMap { $0.isEmpty ? nil : $0 } ?? "127.0.0.1"
        port = components.port ?? 5432
        let path = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        database = path.isEmpty ? user : path
        socketDirectory = nil
        requireTLS = false
        timeoutSeconds = 10
        schemaPrefix = ""
        for item in components.queryItems ?? [] {
            guard let value = item.value else { continue }
            switch item.name {
            case "host": if value.hasPrefix("/") { socketDirectory = value } else { host = value }
            case "sslmode": requireTLS = ["require", "verify-ca", "verify-full"].contains(value)
            case "timeout", "connect_timeout": timeoutSeconds = Double(value) ?? timeoutSeconds
            case "schema": schemaPrefix = value
            case "user": user = value
            case "password": password = value
            case "port": port = Int(value) ?? port
            default: continue
            }
        }
    }

    /// The store's schema in this database (`broker`, `aggregator`, `audit`, or prefixed).
    package func schema(_ name: String) -> String { schemaPrefix.isEmpty ? name : "\(schemaPrefix)_\(name)" }

    /// The unix socket file, when connecting through one.
    package var socketPath: String? { socketDirectory.map { "\($0)/.s.PGSQL.\(port)" } }

    /// Where it is, without the password: for messages and logs.
    package var description: String {
        let place = socketDirectory.map { "\($0):\(port)" } ?? "\(host):\(port)"
        return "postgres://\(user)@\(place)/\(database)"
    }
}
