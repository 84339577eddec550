import Foundation
import GRDB

/// Opens SQLite databases the way every Capsule store wants them: WAL, foreign keys, secure delete.
package enum StoreDatabase {
    package static func open(at url: URL, migrator: DatabaseMigrator) throws -> DatabasePool {
        try FileManager.default.createDirectory(
            at: url.deletingLastPathComponent(),
            withIntermediateDirectories: true,
            attributes: [.posixPermissions: 0o700]
        )
        var configuration = Configuration()
        configuration.busyMode = .timeout(5)
        configuration.prepareDatabase { db in
            // Deleted rows are overwritten, so redacted-away values do not linger in free pages.
            try db.execute(sql: "PRAGMA secure_delete = ON")
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        let pool = try DatabasePool(path: url.path, configuration: configuration)
        try migrator.migrate(pool)
        return pool
    }
}

extension Date {
    /// Seconds since 1970, as stored in every Capsule table.
    package var storeValue: Double { timeIntervalSince1970 }
    package init(storeValue: Double) { self.init(timeIntervalSince1970: storeValue) }
}
