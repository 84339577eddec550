import CapsuleProtocol
import Foundation
import GRDB

/// Thresholds and retention, stored once (docs/decisions.md, "Settings live in the broker").
extension BrokerStore {
    /// The stored settings, or nil before the first save.
    package func settings() throws -> Settings? {
        try pool.read { db in
            try String.fetchOne(db, sql: "SELECT value FROM settings WHERE key = 'settings'").flatMap {
                try? WireCodec.fromJSON(Settings.self, Data($0.utf8))
            }
        }
    }

    package static func save(_ db: Database, settings: Settings) throws {
        try db.execute(sql: "INSERT OR REPLACE INTO settings (key, value) VALUES ('settings', ?)",
                       arguments: [String(decoding: WireCodec.json(settings), as: UTF8.self)])
    }
}
