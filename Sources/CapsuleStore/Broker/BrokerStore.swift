import CapsuleDomain
import CapsuleProtocol
package import Foundation
package import GRDB

/// The broker's durable state: enrolled keys, agents, service ownership, tokens, commands, settings
/// and its event journal. Writes take an ``SQLConnection`` so the broker can group a loop turn's
/// writes in one transaction (``WriteBatch``); reads use the store's readers. The same SQL runs on
/// SQLite (the default, a file in the home) and PostgreSQL (`--store postgres://…`).
package final class BrokerStore: Sendable {
    package let database: any SQLStore
    package static let publisher = "broker"

    /// Opens the SQLite store at `url`; see ``SQLiteStore/open(at:schema:initialize:)`` for `initialize`.
    package convenience init(url: URL, initialize: Bool = false) throws {
        self.init(database: try SQLiteStore.open(at: url, schema: Self.schema, initialize: initialize))
    }

    package init(database: any SQLStore) {
        self.database = database
    }

    /// The broker's tables on both backends.
    package static let schema = StoreSchema(
        name: "broker",
        sqlite: migrator,
        postgres: postgresMigrations,
        tables: ["principal", "agent", "service", "token", "command", "settings", "journal", "journal_meta"]
    )

    /// PostgreSQL's schema: today's tables in one step, then what came after. Times are seconds
    /// since 1970 as `DOUBLE PRECISION`, booleans `BIGINT` 0/1, so values read back as on SQLite.
    package static let postgresMigrations: [StoreSchema.Migration] = [
        .init(
            "v1",
            """
            CREATE TABLE principal (
                publicKey TEXT PRIMARY KEY,
                kind TEXT NOT NULL,
                identity TEXT NOT NULL,
                role TEXT,
                state TEXT NOT NULL,
                createdAt DOUBLE PRECISION NOT NULL
            );
            CREATE INDEX principal_identity ON principal(identity);
            CREATE TABLE agent (
                id TEXT PRIMARY KEY,
                code TEXT NOT NULL UNIQUE,
                publicKey TEXT NOT NULL UNIQUE,
                createdAt DOUBLE PRECISION NOT NULL
            );
            CREATE TABLE service (
                code TEXT PRIMARY KEY,
                agentId TEXT NOT NULL REFERENCES agent(id),
                manifest TEXT NOT NULL,
                updatedAt DOUBLE PRECISION NOT NULL
            );
            CREATE INDEX service_agent ON service(agentId);
            CREATE TABLE command (
                id TEXT PRIMARY KEY,
                serviceCode TEXT NOT NULL,
                agentId TEXT NOT NULL,
                action TEXT NOT NULL,
                payload TEXT NOT NULL,
                status TEXT NOT NULL,
                actor TEXT NOT NULL,
                createdAt DOUBLE PRECISION NOT NULL,
                updatedAt DOUBLE PRECISION NOT NULL,
                expiresAt DOUBLE PRECISION NOT NULL,
                success BIGINT,
                message TEXT,
                data TEXT,
                errorCode TEXT,
                errorMessage TEXT,
                deliveries BIGINT NOT NULL DEFAULT 0,
                sealedPayload BYTEA,
                startedAt DOUBLE PRECISION,
                completedAt DOUBLE PRECISION,
                retryOf TEXT,
                sealedOneTime BYTEA,
                oneTimeExpiresAt DOUBLE PRECISION
            );
            CREATE INDEX command_agent_status ON command(agentId, status);
            CREATE INDEX command_created ON command(createdAt, id);
            CREATE INDEX command_status ON command(status);
            CREATE TABLE token (
                id TEXT PRIMARY KEY,
                name TEXT NOT NULL,
                hash TEXT NOT NULL UNIQUE,
                agentCode TEXT,
                status TEXT NOT NULL,
                createdAt DOUBLE PRECISION NOT NULL,
                expiresAt DOUBLE PRECISION NOT NULL,
                createdBy TEXT NOT NULL,
                createdByRole TEXT NOT NULL,
                usedBy TEXT,
                usedAt DOUBLE PRECISION
            );
            CREATE INDEX token_created ON token(createdAt, id);
            CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
            """ + "\n" + EventJournal.postgresTables
        ),
        // Two brokers on one store: the lease the active one holds (BrokerLease).
        .init(
            "v2-broker-lease",
            """
            CREATE TABLE broker_lease (
                name TEXT PRIMARY KEY,
                holder TEXT NOT NULL,
                endpoint TEXT NOT NULL,
                epoch BIGINT NOT NULL,
                expiresAt DOUBLE PRECISION NOT NULL
            );
            """
        ),
    ]

    package static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(
                sql: """
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
                    """
            )
        }
        migrator.registerMigration("v2-tokens-sealed-payloads") { db in
            try db.execute(
                sql: """
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
                    """
            )
        }
        migrator.registerMigration("v3-principal-identity-index") { db in
            try db.execute(sql: "CREATE INDEX principal_identity ON principal(identity)")
        }
        migrator.registerMigration("v4-command-timing-paging-settings-incarnations") { db in
            try db.execute(
                sql: """
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
                    """
            )
            try EventJournal.createTables(SQLiteConnection(db))
        }
        return migrator
    }

    /// The schema version (the last migration applied), for `--version`.
    package static var schemaVersion: String { "v4" }
    /// The PostgreSQL schema's version.
    package static var postgresSchemaVersion: String { schema.version }
}
