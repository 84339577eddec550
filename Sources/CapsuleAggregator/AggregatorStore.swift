import CapsuleDomain
import CapsuleProtocol
import CapsuleStore
import Foundation
import GRDB

/// The aggregator's durable state: the board and its event journal, written in one transaction so
/// a restart neither replays nor misses a transition.
package final class AggregatorStore: Sendable {
    package let pool: DatabasePool
    package static let publisher = "aggregator"

    package init(url: URL) throws {
        pool = try StoreDatabase.open(at: url, migrator: Self.migrator)
    }

    package static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE agent_state (agentId TEXT PRIMARY KEY, state TEXT NOT NULL);
                CREATE TABLE service_state (code TEXT PRIMARY KEY, state TEXT NOT NULL);
                """)
            try EventJournal.createTable(db)
        }
        return migrator
    }

    package func load() throws -> (agents: [AgentState], services: [ServiceState]) {
        try pool.read { db in
            let agents = try String.fetchAll(db, sql: "SELECT state FROM agent_state").compactMap {
                try? WireCodec.fromJSON(AgentState.self, Data($0.utf8))
            }
            let services = try String.fetchAll(db, sql: "SELECT state FROM service_state").compactMap {
                try? WireCodec.fromJSON(ServiceState.self, Data($0.utf8))
            }
            return (agents, services)
        }
    }

    /// Saves the given states and journals the transitions, atomically; returns the journalled events.
    package func commit(agents: [AgentState], services: [ServiceState], transitions: [Transition]) throws -> [AuditEvent] {
        try pool.write { db in
            for agent in agents {
                try db.execute(sql: "INSERT OR REPLACE INTO agent_state (agentId, state) VALUES (?, ?)",
                               arguments: [agent.agentId, String(decoding: WireCodec.json(agent), as: UTF8.self)])
            }
            for service in services {
                try db.execute(sql: "INSERT OR REPLACE INTO service_state (code, state) VALUES (?, ?)",
                               arguments: [service.code, String(decoding: WireCodec.json(service), as: UTF8.self)])
            }
            return try transitions.map { transition in
                try EventJournal.append(db, publisher: Self.publisher) { seq in
                    AuditEvent(
                        publisher: Self.publisher, seq: seq, at: transition.at, action: "\(transition.kind.rawValue).transition",
                        subject: transition.subject, actor: "system", from: transition.from, to: transition.to,
                        reason: transition.reason
                    )
                }
            }
        }
    }

    package func journalEvents(after: UInt64, limit: Int) throws -> [AuditEvent] {
        try pool.read { db in try EventJournal.events(db, after: after, limit: limit) }
    }

    package func journalLastSeq() throws -> UInt64 {
        try pool.read { db in try EventJournal.lastSeq(db) }
    }

    package func pruneJournal(upTo: UInt64) throws {
        try pool.write { db in try EventJournal.prune(db, upTo: upTo) }
    }
}
