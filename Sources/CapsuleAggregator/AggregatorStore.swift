import CapsuleDomain
import CapsuleProtocol
package import CapsuleStore
package import Foundation
package import GRDB

/// The aggregator's durable state: the board and its event journal, written in one transaction so
/// a restart neither replays nor misses a transition. Manifests are stored apart from the state that
/// every heartbeat changes, so a heartbeat never rewrites a manifest.
package final class AggregatorStore: Sendable {
    package let database: any SQLStore
    package static let publisher = "aggregator"

    package convenience init(url: URL, initialize: Bool = false) throws {
        self.init(database: try SQLiteStore.open(at: url, schema: Self.schema, initialize: initialize))
    }

    package init(database: any SQLStore) {
        self.database = database
    }

    package static let schema = StoreSchema(
        name: "aggregator",
        sqlite: migrator,
        postgres: postgresMigrations,
        tables: ["agent_state", "service_state", "service_manifest", "journal", "journal_meta"]
    )

    package static let postgresMigrations: [StoreSchema.Migration] = [
        .init(
            "v1",
            """
            CREATE TABLE agent_state (agentId TEXT PRIMARY KEY, state TEXT NOT NULL);
            CREATE TABLE service_state (code TEXT PRIMARY KEY, state TEXT NOT NULL);
            CREATE TABLE service_manifest (code TEXT PRIMARY KEY, manifest TEXT NOT NULL);
            """ + "\n" + EventJournal.postgresTables
        )
    ]

    package static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE agent_state (agentId TEXT PRIMARY KEY, state TEXT NOT NULL);
                    CREATE TABLE service_state (code TEXT PRIMARY KEY, state TEXT NOT NULL);
                    CREATE TABLE journal (seq INTEGER PRIMARY KEY, event TEXT NOT NULL);
                    """
            )
        }
        migrator.registerMigration("v2-manifests-apart-incarnations") { db in
            try db.execute(
                sql: """
                    CREATE TABLE service_manifest (code TEXT PRIMARY KEY, manifest TEXT NOT NULL);
                    INSERT INTO service_manifest (code, manifest)
                        SELECT code, json_extract(state, '$.manifest') FROM service_state WHERE json_extract(state, '$.manifest') IS NOT NULL;
                    """
            )
            try EventJournal.createTables(SQLiteConnection(db))
        }
        return migrator
    }

    package static var schemaVersion: String { "v2" }
    package static var postgresSchemaVersion: String { schema.version }

    package func load() throws -> (agents: [AgentState], services: [ServiceState]) {
        try database.read { db in
            let agents = try String.fetchAll(db, sql: "SELECT state FROM agent_state").compactMap {
                try? WireCodec.fromJSON(AgentState.self, Data($0.utf8))
            }
            var manifests: [String: ServiceManifest] = [:]
            for row in try SQLRow.fetchAll(db, sql: "SELECT code, manifest FROM service_manifest") {
                manifests[row["code"]] = try? WireCodec.fromJSON(
                    ServiceManifest.self,
                    Data((row["manifest"] as String).utf8)
                )
            }
            let services = try String.fetchAll(db, sql: "SELECT state FROM service_state").compactMap {
                text -> ServiceState? in
                guard var state = try? WireCodec.fromJSON(ServiceState.self, Data(text.utf8)) else { return nil }
                if let manifest = manifests[state.code] { state.manifest = manifest }
                return state
            }
            return (agents, services)
        }
    }

    /// Saves states inside the caller's transaction; a nil state deletes the row. A service's
    /// manifest is written only when `manifestChanged` names it.
    package static func save(
        _ db: any SQLConnection,
        agents: [String: AgentState?],
        services: [String: ServiceState?],
        manifestChanged: Set<String>
    ) throws {
        for (agentId, state) in agents {
            if let state {
                try db.execute(
                    sql:
                        "INSERT INTO agent_state (agentId, state) VALUES (?, ?) ON CONFLICT (agentId) DO UPDATE SET state = excluded.state",
                    arguments: [agentId, String(decoding: WireCodec.json(state), as: UTF8.self)]
                )
            } else {
                try db.execute(sql: "DELETE FROM agent_state WHERE agentId = ?", arguments: [agentId])
            }
        }
        for (code, state) in services {
            guard var state else {
                try db.execute(sql: "DELETE FROM service_state WHERE code = ?", arguments: [code])
                try db.execute(sql: "DELETE FROM service_manifest WHERE code = ?", arguments: [code])
                continue
            }
            if manifestChanged.contains(code), let manifest = state.manifest {
                try db.execute(
                    sql:
                        "INSERT INTO service_manifest (code, manifest) VALUES (?, ?) ON CONFLICT (code) DO UPDATE SET manifest = excluded.manifest",
                    arguments: [code, String(decoding: WireCodec.json(manifest), as: UTF8.self)]
                )
            }
            state.manifest = nil
            try db.execute(
                sql:
                    "INSERT INTO service_state (code, state) VALUES (?, ?) ON CONFLICT (code) DO UPDATE SET state = excluded.state",
                arguments: [code, String(decoding: WireCodec.json(state), as: UTF8.self)]
            )
        }
    }
}
