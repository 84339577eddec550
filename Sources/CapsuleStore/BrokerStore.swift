import CapsuleDomain
import CapsuleProtocol
import Foundation
import GRDB

/// The broker's durable state: enrolled keys, agents, service ownership, commands and its event journal.
package final class BrokerStore: Sendable {
    package let pool: DatabasePool
    package static let publisher = "broker"

    package init(url: URL) throws {
        pool = try StoreDatabase.open(at: url, migrator: Self.migrator)
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
                """)
            try EventJournal.createTable(db)
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
        return migrator
    }

    // MARK: Principals

    package func principals() throws -> [Principal] {
        try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM principal").map(Self.principal)
        }
    }

    /// Every key (current or revoked) held by one identity: an agentId, a service or an operator name.
    package func principals(identity: String) throws -> [Principal] {
        try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM principal WHERE identity = ?", arguments: [identity]).map(Self.principal)
        }
    }

    package func principal(publicKey: String) throws -> Principal? {
        try pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM principal WHERE publicKey = ?", arguments: [publicKey]).map(Self.principal)
        }
    }

    /// Inserts or replaces a principal (internal services and local operators at start).
    package func upsert(_ principal: Principal) throws {
        try pool.write { db in try Self.upsert(principal, db) }
    }

    static func upsert(_ principal: Principal, _ db: Database) throws {
        try db.execute(
            sql: """
                INSERT INTO principal (publicKey, kind, identity, role, state, createdAt) VALUES (?, ?, ?, ?, ?, ?)
                ON CONFLICT(publicKey) DO UPDATE SET kind = excluded.kind, identity = excluded.identity,
                    role = excluded.role, state = excluded.state
                """,
            arguments: [principal.publicKey, principal.kind.rawValue, principal.identity, principal.role?.rawValue,
                        principal.state.rawValue, principal.createdAt.storeValue]
        )
    }

    private static func principal(_ row: Row) -> Principal {
        Principal(
            publicKey: row["publicKey"],
            kind: Principal.Kind(rawValue: row["kind"]) ?? .agent,
            identity: row["identity"],
            role: (row["role"] as String?).flatMap(Principal.Role.init(rawValue:)),
            state: Principal.State(rawValue: row["state"]) ?? .revoked,
            createdAt: Date(storeValue: row["createdAt"])
        )
    }

    // MARK: Agents

    package struct AgentRecord: Sendable, Hashable, Codable {
        package var id: String
        package var code: String
        package var publicKey: String
        package var state: Principal.State
        package var createdAt: Date
    }

    private static let agentColumns = """
        SELECT agent.id, agent.code, agent.publicKey, agent.createdAt, principal.state
        FROM agent JOIN principal ON principal.publicKey = agent.publicKey
        """

    private static func agent(_ row: Row) -> AgentRecord {
        AgentRecord(
            id: row["id"], code: row["code"], publicKey: row["publicKey"],
            state: Principal.State(rawValue: row["state"]) ?? .revoked,
            createdAt: Date(storeValue: row["createdAt"])
        )
    }

    package func agents() throws -> [AgentRecord] {
        try pool.read { db in
            try Row.fetchAll(db, sql: Self.agentColumns + " ORDER BY agent.code").map(Self.agent)
        }
    }

    package func agent(code: String) throws -> AgentRecord? {
        try pool.read { db in
            try Row.fetchOne(db, sql: Self.agentColumns + " WHERE agent.code = ?", arguments: [code]).map(Self.agent)
        }
    }

    package func agent(id: String) throws -> AgentRecord? {
        try pool.read { db in
            try Row.fetchOne(db, sql: Self.agentColumns + " WHERE agent.id = ?", arguments: [id]).map(Self.agent)
        }
    }

    // MARK: Services

    package struct ServiceRecord: Sendable, Hashable {
        package var code: String
        package var agentId: String
        package var manifest: ServiceManifest

        package init(code: String, agentId: String, manifest: ServiceManifest) {
            self.code = code
            self.agentId = agentId
            self.manifest = manifest
        }
    }

    /// Records the manifests an agent reported. A code owned by another agent is refused by name.
    package func claimServices(agentId: String, manifests: [ServiceManifest], now: Date) throws -> [String] {
        try pool.write { db in
            var refused: [String] = []
            for manifest in manifests {
                if let owner = try String.fetchOne(db, sql: "SELECT agentId FROM service WHERE code = ?", arguments: [manifest.code]),
                    owner != agentId
                {
                    refused.append("service \(manifest.code) is owned by agent \(owner)")
                    continue
                }
                let text = String(decoding: WireCodec.json(manifest.sanitized), as: UTF8.self)
                try db.execute(
                    sql: """
                        INSERT INTO service (code, agentId, manifest, updatedAt) VALUES (?, ?, ?, ?)
                        ON CONFLICT(code) DO UPDATE SET manifest = excluded.manifest, updatedAt = excluded.updatedAt
                        """,
                    arguments: [manifest.code, agentId, text, now.storeValue]
                )
            }
            return refused
        }
    }

    package func services() throws -> [ServiceRecord] {
        try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT code, agentId, manifest FROM service").compactMap { row in
                guard let manifest = try? WireCodec.fromJSON(ServiceManifest.self, Data((row["manifest"] as String).utf8)) else {
                    return nil
                }
                return ServiceRecord(code: row["code"], agentId: row["agentId"], manifest: manifest)
            }
        }
    }

    // MARK: Commands

    private static func command(_ row: Row) throws -> CommandRecord {
        func json(_ column: String) throws -> JSONValue? {
            guard let text = row[column] as String? else { return nil }
            return try WireCodec.fromJSON(JSONValue.self, Data(text.utf8))
        }
        return CommandRecord(
            id: row["id"], serviceCode: row["serviceCode"], agentId: row["agentId"], action: row["action"],
            payload: try json("payload") ?? .null,
            status: CommandStatus(rawValue: row["status"]) ?? .failed, actor: row["actor"],
            createdAt: Date(storeValue: row["createdAt"]), updatedAt: Date(storeValue: row["updatedAt"]),
            expiresAt: Date(storeValue: row["expiresAt"]), success: row["success"], message: row["message"],
            data: try json("data"), errorCode: row["errorCode"], errorMessage: row["errorMessage"],
            deliveries: row["deliveries"]
        )
    }

    private static func text(_ value: JSONValue?) -> String? {
        value.map { String(decoding: WireCodec.json($0), as: UTF8.self) }
    }

    /// Persists a new PENDING command and journals `command.created`, in one transaction. Only the
    /// redacted payload is stored in clear; the raw one, if the caller needs it back for delivery,
    /// comes sealed (`sealedPayload`) and is dropped when the command becomes terminal.
    @discardableResult
    package func create(_ command: CommandRecord, sealedPayload: Data? = nil) throws -> AuditEvent {
        try pool.write { db in
            try db.execute(
                sql: """
                    INSERT INTO command (id, serviceCode, agentId, action, payload, sealedPayload, status, actor, createdAt, updatedAt, expiresAt)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [command.id, command.serviceCode, command.agentId, command.action, Self.text(Redactor.redact(command.payload)),
                            sealedPayload, command.status.rawValue, command.actor, command.createdAt.storeValue,
                            command.updatedAt.storeValue, command.expiresAt.storeValue]
            )
            return try EventJournal.append(db, publisher: Self.publisher) { seq in
                AuditEvent(
                    publisher: Self.publisher, seq: seq, at: command.createdAt, action: "command.created",
                    subject: "command:\(command.id)", actor: command.actor, to: CommandStatus.pending.rawValue,
                    reason: "\(command.action) on \(command.serviceCode)",
                    details: .object(["service": .string(command.serviceCode), "action": .string(command.action),
                                      "agentId": .string(command.agentId), "payload": command.payload])
                )
            }
        }
    }

    package func command(id: String) throws -> CommandRecord? {
        try pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM command WHERE id = ?", arguments: [id]).map(Self.command)
        }
    }

    package func commands(limit: Int = 100, status: CommandStatus? = nil) throws -> [CommandRecord] {
        try pool.read { db in
            if let status {
                return try Row.fetchAll(db, sql: "SELECT * FROM command WHERE status = ? ORDER BY createdAt DESC LIMIT ?",
                                        arguments: [status.rawValue, limit]).map(Self.command)
            }
            return try Row.fetchAll(db, sql: "SELECT * FROM command ORDER BY createdAt DESC LIMIT ?", arguments: [limit])
                .map(Self.command)
        }
    }

    /// Live (PENDING or RUNNING) commands for an agent, oldest first.
    package func liveCommands(agentId: String) throws -> [CommandRecord] {
        try pool.read { db in
            try Row.fetchAll(db, sql: """
                SELECT * FROM command WHERE agentId = ? AND status IN ('PENDING', 'RUNNING') ORDER BY createdAt
                """, arguments: [agentId]).map(Self.command)
        }
    }

    /// Live commands whose `expiresAt` has passed.
    package func dueForExpiry(now: Date) throws -> [CommandRecord] {
        try pool.read { db in
            try Row.fetchAll(db, sql: """
                SELECT * FROM command WHERE status IN ('PENDING', 'RUNNING') AND expiresAt <= ?
                """, arguments: [now.storeValue]).map(Self.command)
        }
    }

    package func markDelivered(id: String) throws {
        try pool.write { db in
            try db.execute(sql: "UPDATE command SET deliveries = deliveries + 1 WHERE id = ?", arguments: [id])
        }
    }

    /// The outcome of applying an event to a stored command.
    package enum Outcome: Sendable {
        case moved(CommandRecord, AuditEvent)
        case unchanged(CommandRecord)
        case rejected(CommandRecord?, String, AuditEvent?)
    }

    /// Applies `event` through ``CommandStateMachine`` and journals the transition (or the rejection)
    /// in the same transaction. Once terminal, the sealed raw payload is dropped.
    package func apply(
        _ event: CommandEvent,
        to id: String,
        result: CommandResult? = nil,
        actor: String,
        reason: String? = nil,
        now: Date
    ) throws -> Outcome {
        try pool.write { db in
            guard let command = try Row.fetchOne(db, sql: "SELECT * FROM command WHERE id = ?", arguments: [id]).map(Self.command) else {
                return .rejected(nil, "unknown command \(id)", nil)
            }
            switch CommandStateMachine.apply(event, to: command.status) {
            case .unchanged:
                return .unchanged(command)
            case .rejected(let why):
                let audit = try EventJournal.append(db, publisher: Self.publisher) { seq in
                    AuditEvent(
                        publisher: Self.publisher, seq: seq, at: now, action: "command.rejected", subject: "command:\(id)",
                        actor: actor, result: .failure, from: command.status.rawValue, reason: why,
                        details: .object(["event": .string("\(event)")])
                    )
                }
                return .rejected(command, why, audit)
            case .moveTo(let next):
                var updated = command
                updated.status = next
                updated.updatedAt = now
                if let result {
                    updated.success = result.success
                    updated.message = result.message
                    updated.data = Redactor.redact(result.data)
                    updated.errorCode = result.error?.code
                    updated.errorMessage = result.error?.message
                }
                try db.execute(
                    sql: """
                        UPDATE command SET status = ?, updatedAt = ?, success = ?, message = ?, data = ?, errorCode = ?,
                            errorMessage = ?, sealedPayload = CASE WHEN ? THEN NULL ELSE sealedPayload END WHERE id = ?
                        """,
                    arguments: [next.rawValue, now.storeValue, updated.success, updated.message, Self.text(updated.data),
                                updated.errorCode, updated.errorMessage, next.isTerminal, id]
                )
                let audit = try EventJournal.append(db, publisher: Self.publisher) { seq in
                    var details: [String: JSONValue] = ["service": .string(command.serviceCode), "action": .string(command.action)]
                    if let message = updated.message { details["message"] = .string(message) }
                    if let data = updated.data { details["data"] = data }
                    if let code = updated.errorCode { details["errorCode"] = .string(code) }
                    return AuditEvent(
                        publisher: Self.publisher, seq: seq, at: now, action: "command.\(next.rawValue.lowercased())",
                        subject: "command:\(id)", actor: actor,
                        result: next == .failed || next == .expired ? .failure : .success,
                        from: command.status.rawValue, to: next.rawValue, reason: reason ?? updated.errorMessage ?? updated.message,
                        details: .object(details)
                    )
                }
                return .moved(updated, audit)
            }
        }
    }

    // MARK: Journal

    /// Journals a free-standing event (enrollment refusals, identity mismatches, dropped messages).
    package func journal(_ make: @escaping @Sendable (UInt64) -> AuditEvent) throws -> AuditEvent {
        try pool.write { db in try EventJournal.append(db, publisher: Self.publisher, make) }
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
