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
        ),
        .init(
            "v2",
            """
            ALTER TABLE agent_state ADD COLUMN heardAt DOUBLE PRECISION;
            ALTER TABLE service_state ADD COLUMN healthAt DOUBLE PRECISION;
            ALTER TABLE service_state ADD COLUMN sampledAt DOUBLE PRECISION;
            """
        ),
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
        migrator.registerMigration("v3-times-apart") { db in
            try db.execute(
                sql: """
                    ALTER TABLE agent_state ADD COLUMN heardAt REAL;
                    ALTER TABLE service_state ADD COLUMN healthAt REAL;
                    ALTER TABLE service_state ADD COLUMN sampledAt REAL;
                    """
            )
        }
        return migrator
    }

    package static var schemaVersion: String { "v3" }
    package static var postgresSchemaVersion: String { schema.version }

    package func load() throws -> (agents: [AgentState], services: [ServiceState]) {
        try database.read { db in
            // The time columns, when set, are newer than the times inside the state.
            let agents = try SQLRow.fetchAll(db, sql: "SELECT state, heardAt FROM agent_state").compactMap {
                row -> AgentState? in
                guard var state = try? WireCodec.fromJSON(AgentState.self, Data((row["state"] as String).utf8)) else {
                    return nil
                }
                if let heard: Double = row["heardAt"] { state.lastHeartbeatAt = Date(storeValue: heard) }
                return state
            }
            var manifests: [String: ServiceManifest] = [:]
            for row in try SQLRow.fetchAll(db, sql: "SELECT code, manifest FROM service_manifest") {
                manifests[row["code"]] = try? WireCodec.fromJSON(
                    ServiceManifest.self,
                    Data((row["manifest"] as String).utf8)
                )
            }
            let services = try SQLRow.fetchAll(db, sql: "SELECT state, healthAt, sampledAt FROM service_state")
                .compactMap { row -> ServiceState? in
                    guard
                        var state = try? WireCodec.fromJSON(ServiceState.self, Data((row["state"] as String).utf8))
                    else { return nil }
                    if let manifest = manifests[state.code] { state.manifest = manifest }
                    if let healthAt: Double = row["healthAt"] { state.healthAt = Date(storeValue: healthAt) }
                    if let sampledAt: Double = row["sampledAt"] { state.sampledAt = Date(storeValue: sampledAt) }
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
                    sql: """
                        INSERT INTO agent_state (agentId, state, heardAt) VALUES (?, ?, ?)
                        ON CONFLICT (agentId) DO UPDATE SET state = excluded.state, heardAt = excluded.heardAt
                        """,
                    arguments: [
                        agentId, String(decoding: WireCodec.json(state), as: UTF8.self),
                        state.lastHeartbeatAt?.storeValue,
                    ]
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
                sql: """
                    INSERT INTO service_state (code, state, healthAt, sampledAt) VALUES (?, ?, ?, ?)
                    ON CONFLICT (code) DO UPDATE SET state = excluded.state, healthAt = excluded.healthAt,
                        sampledAt = excluded.sampledAt
                    """,
                arguments: [
                    code, String(decoding: WireCodec.json(state), as: UTF8.self), state.healthAt?.storeValue,
                    state.sampledAt?.storeValue,
                ]
            )
        }
    }

    /// Heartbeat and health times of agents and services whose state is otherwise as stored.
    package struct Times: Sendable {
        package var agents: [(agentId: String, heardAt: Date)] = []
        package var services: [(code: String, healthAt: Date?, sampledAt: Date?)] = []
        package var isEmpty: Bool { agents.isEmpty && services.isEmpty }
        package init() {}

        /// The times of the board's aged agents and services, leaving out those saved whole.
        package init(
            aged board: StatusBoard,
            agentsSavedWhole: Dictionary<String, AgentState?>.Keys,
            servicesSavedWhole: Dictionary<String, ServiceState?>.Keys
        ) {
            for agentId in board.agedAgents where !agentsSavedWhole.contains(agentId) {
                if let heard = board.agents[agentId]?.lastHeartbeatAt { agents.append((agentId, heard)) }
            }
            for code in board.agedServices where !servicesSavedWhole.contains(code) {
                if let service = board.services[code] { services.append((code, service.healthAt, service.sampledAt)) }
            }
        }
    }

    /// Saves times alone, inside the caller's transaction: one small UPDATE a row, no JSON.
    package static func save(_ db: any SQLConnection, times: Times) throws {
        for (agentId, heardAt) in times.agents {
            try db.execute(
                sql: "UPDATE agent_state SET heardAt = ? WHERE agentId = ?",
                arguments: [heardAt.storeValue, agentId]
            )
        }
        for (code, healthAt, sampledAt) in times.services {
            try db.execute(
                sql: "UPDATE service_state SET healthAt = ?, sampledAt = ? WHERE code = ?",
                arguments: [healthAt?.storeValue, sampledAt?.storeValue, code]
            )
        }
    }
}
