package import CapsuleStore
package import Foundation
package import Logging

extension StoreOpener {
    /// The opener for a `--store` value: empty or nil for the SQLite files in `defaultDirectory`,
    /// `sqlite:PATH` (a directory) for SQLite files elsewhere, `postgres://…` for PostgreSQL.
    package static func resolve(
        _ value: String?,
        defaultDirectory: URL,
        applicationName: String = "capsule",
        logger: Logger = Logger(label: "capsule.store")
    ) throws -> StoreOpener {
        guard let value, !value.isEmpty else { return .sqlite(directory: defaultDirectory) }
        if let location = PostgresLocation(value) {
            return StoreOpener(description: location.description) { schema, _ in
                try PostgresStore.open(
                    location: location,
                    schema: schema,
                    applicationName: applicationName,
                    logger: logger
                )
            }
        }
        if value.hasPrefix("sqlite:") {
            var path = String(value.dropFirst("sqlite:".count))
            if path.hasPrefix("//") { path = String(path.dropFirst(2)) }
            return .sqlite(directory: URL(fileURLWithPath: path, isDirectory: true))
        }
        throw StoreError(
            .badRequest,
            "--store takes postgres://user@host:port/database or sqlite:DIRECTORY, got \(value)"
        )
    }
}
