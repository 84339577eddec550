package import CapsuleProtocol
import Foundation

/// Thresholds and retention, stored once (docs/decisions.md, "Settings live in the broker").
extension BrokerStore {
    /// The stored settings, or nil before the first save.
    package func settings() throws -> Settings? {
        try database.read { db in
            try String.fetchOne(db, sql: "SELECT value FROM settings WHERE key = 'settings'").flatMap {
                try? WireCodec.fromJSON(Settings.self, Data($0.utf8))
            }
        }
    }

    package static func save(_ db: any SQLConnection, settings: Settings) throws {
        try db.execute(
            sql: """
                INSERT INTO settings (key, value) VALUES ('settings', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value
                """,
            arguments: [String(decoding: WireCodec.json(settings), as: UTF8.self)]
        )
    }
}
