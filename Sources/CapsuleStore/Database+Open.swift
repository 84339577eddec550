import Foundation
import GRDB

/// Opens SQLite databases the way every Capsule store wants them: WAL, foreign keys, secure delete.
package enum StoreDatabase {
    /// Opens (and migrates) the store at `url`. A missing file is created. A file that exists but is
    /// empty or is not a readable Capsule store is refused with a one-line error naming the file,
    /// unless `initialize` is set: then it is moved aside (`<name>.broken-<time>`) and a new store
    /// is created, which starts a new journal incarnation (design §6).
    package static func open(at url: URL, migrator: DatabaseMigrator, initialize: Bool = false) throws -> DatabasePool {
        try FileManager.default.createDirectory(
            at: url.deletingLastPathComponent(),
            withIntermediateDirectories: true,
            attributes: [.posixPermissions: 0o700]
        )
        let path = url.path
        if let size = (try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int, size == 0 {
            guard initialize else {
                throw StoreError(.corrupt, "\(path) is empty (0 bytes): it was truncated or reset. Restore it from a backup, or pass --init-store to start a new, empty store (the audit writer then follows its new journal incarnation)")
            }
            try moveAside(url)
        }
        do {
            return try openPool(path: path, migrator: migrator)
        } catch let error as DatabaseError {
            guard initialize, FileManager.default.fileExists(atPath: path) else {
                throw StoreError(.corrupt, "\(path) is not a readable Capsule store (\(error.resultCode)): restore it from a backup, or pass --init-store to start a new, empty store")
            }
            try moveAside(url)
            return try openPool(path: path, migrator: migrator)
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
}

extension Date {
    /// Seconds since 1970, as stored in every Capsule table.
    package var storeValue: Double { timeIntervalSince1970 }
    package init(storeValue: Double) { self.init(timeIntervalSince1970: storeValue) }
}
