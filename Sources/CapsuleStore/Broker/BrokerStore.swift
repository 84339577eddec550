import CapsuleDomain
import CapsuleProtocol
import Foundation
import GRDB

/// The broker's durable state: enrolled keys, agents, service ownership, tokens, commands, settings
/// and its event journal. Writes take a `Database` so the broker can group a loop turn's writes in
/// one transaction (``WriteBatch``); reads use the pool's readers.
package final class BrokerStore: Sendable {
    package let pool: DatabasePool
    package static let publisher = "broker"

    /// Opens the store; see ``StoreDatabase/open(at:migrator:initialize:)`` for `initialize`.
    package init(url: URL, initialize: Bool = false) throws {
        pool = try StoreDatabase.open(at: url, migrator: Self.migrator, initialize: initialize)
    }

    package static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE principal (
                    publicKey TEXT PRIMARY KEY,
                    kind TEXT NOT NULL,
                    identity TEXT NOT NULL,
                    role TEXT,
                    state TEXT NOT NULL,
                    createdAt DOUBLE NOT NULL
                );
                CREATE TABLE agent (
                    id TEXT PRIMARY KEY,
                    code TEXT NOT NULL UNIQUE,
                    publicKey TEXT NOT NULL UNIQUE,
                    createdAt DOUBLE NOT NULL
                );
                CREATE TABLE service (
                    code TEXT PRIMARY KEY,
                    agentId TEXT NOT NULL REFERENCES agent(id),
                    manifest TEXT NOT NULL,
                    updatedAt DOUBLE NOT NULL
                );
                CREATE TABLE command (
                    id TEXT PRIMARY KEY,
                    serviceCode TEXT NOT NULL,
                    agentId TEXT NOT NULL,
                    action TEXT NOT NULL,
                    payload TEXT NOT NULL,
                    status TEXT NOT NULL,
                    actor TEXT NOT NULL,
                    createdAt DOUBLE NOT NULL,
                    updatedAt DOUBLE NOT NULL,
                    expiresAt DOUBLE NOT NULL,
                    success INTEGER,
                    message TEXT,
                    data TEXT,
                    errorCode TEXT,
                    errorMessage TEXT,
                    deliveries INTEGER NOT NULL DEFAULT 0
                );
                CREATE INDEX command_agent_status ON command(agentId, status);
                CREATE TABLE journal (seq INTEGER PRIMARY KEY, event TEXT NOT NULL);
                """)
        }
        migrator.registerMigration("v2-tokens-sealed-payloads") { db in
            try db.execute(sql: """
                CREATE TABLE token (
                    id TEXT PRIMARY KEY,
                    name TEXT NOT NULL,
                    hash TEXT NOT NULL UNIQUE,
                    agentCode TEXT,
                    status TEXT NOT NULL,
                    createdAt DOUBLE NOT NULL,
                    expiresAt DOUBLE NOT NULL,
                    createdBy TEXT NOT NULL,
                    createdByRole TEXT NOT NULL,
                    usedBy TEXT,
                    usedAt DOUBLE
                );
                ALTER TABLE command ADD COLUMN sealedPayload BLOB;
                """)
        }
        migrator.registerMigration("v3-principal-identity-index") { db in
            try db.execute(sql: "CREATE INDEX principal_identity ON principal(identity)")
        }
        migrator.registerMigration("v4-command-timing-paging-settings-incarnations") { db in
            try db.execute(sql: """
                ALTER TABLE command ADD COLUMN startedAt DOUBLE;
                ALTER TABLE command ADD COLUMN completedAt DOUBLE;
                ALTER TABLE command ADD COLUMN retryOf TEXT;
                ALTER TABLE command ADD COLUMN sealedOneTime BLOB;
                ALTER TABLE command ADD COLUMN oneTimeExpiresAt DOUBLE;
                CREATE INDEX command_created ON command(createdAt, id);
                CREATE INDEX command_status ON command(status);
                CREATE INDEX token_created ON token(createdAt, id);
                CREATE INDEX service_agent ON service(agentId);
                CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
                """)
            try EventJournal.createTables(db)
        }
        return migrator
    }

    /// The schema version (the last migration applied), for `--version`.
    package static var schemaVersion: String { "v4" }
}
