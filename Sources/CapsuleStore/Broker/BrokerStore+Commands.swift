package import CapsuleDomain
package import CapsuleProtocol
package import Foundation

/// Commands: every field, the payload redacted, the raw payload only sealed until the command is
/// terminal, and one-time result fields only sealed until read or expired.
extension BrokerStore {
    static func command(_ row: SQLRow) throws -> CommandRecord {
        func json(_ column: String) throws -> JSONValue? {
            guard let text = row[column] as String? else { return nil }
            return try WireCodec.fromJSON(JSONValue.self, Data(text.utf8))
        }
        return CommandRecord(
            id: row["id"],
            serviceCode: row["serviceCode"],
            agentId: row["agentId"],
            action: row["action"],
            payload: try json("payload") ?? .null,
            status: CommandStatus(rawValue: row["status"]) ?? .failed,
            actor: row["actor"],
            createdAt: Date(storeValue: row["createdAt"]),
            updatedAt: Date(storeValue: row["updatedAt"]),
            expiresAt: Date(storeValue: row["expiresAt"]),
            startedAt: (row["startedAt"] as Double?).map(Date.init(storeValue:)),
            completedAt: (row["completedAt"] as Double?).map(Date.init(storeValue:)),
            success: row["success"],
            message: row["message"],
            data: try json("data"),
            errorCode: row["errorCode"],
            errorMessage: row["errorMessage"],
            deliveries: row["deliveries"],
            retryOf: row["retryOf"]
        )
    }

    static func text(_ value: JSONValue?) -> String? {
        value.map { String(decoding: WireCodec.json($0), as: UTF8.self) }
    }

    /// Persists a new command. Its payload must already be redacted; the raw one comes sealed.
    package static func insert(_ db: any SQLConnection, _ command: CommandRecord, sealedPayload: Data?) throws {
        try db.execute(
            sql: """
                INSERT INTO command (id, serviceCode, agentId, action, payload, sealedPayload, status, actor, createdAt, updatedAt,
                    expiresAt, deliveries, retryOf)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
            arguments: [
                command.id, command.serviceCode, command.agentId, command.action, text(command.payload), sealedPayload,
                command.status.rawValue, command.actor, command.createdAt.storeValue, command.updatedAt.storeValue,
                command.expiresAt.storeValue, command.deliveries, command.retryOf,
            ]
        )
    }

    /// Writes a command's new state. A terminal command loses its sealed payload; one-time result
    /// fields, if any, are stored sealed with their expiry.
    package static func update(
        _ db: any SQLConnection,
        _ command: CommandRecord,
        sealedOneTime: Data? = nil,
        oneTimeExpiresAt: Date? = nil
    ) throws {
        try db.execute(
            sql: """
                UPDATE command SET status = ?, updatedAt = ?, startedAt = ?, completedAt = ?, success = ?, message = ?, data = ?,
                    errorCode = ?, errorMessage = ?, deliveries = ?,
                    sealedPayload = CASE WHEN ? = 1 THEN NULL ELSE sealedPayload END,
                    sealedOneTime = COALESCE(?, sealedOneTime), oneTimeExpiresAt = COALESCE(?, oneTimeExpiresAt)
                WHERE id = ?
                """,
            arguments: [
                command.status.rawValue, command.updatedAt.storeValue, command.startedAt?.storeValue,
                command.completedAt?.storeValue, command.success, command.message, text(command.data),
                command.errorCode,
                command.errorMessage, command.deliveries, command.status.isTerminal, sealedOneTime,
                oneTimeExpiresAt?.storeValue, command.id,
            ]
        )
    }

    /// Drops a command's sealed one-time result fields (read once, or expired).
    package static func clearOneTime(_ db: any SQLConnection, id: String) throws {
        try db.execute(
            sql: "UPDATE command SET sealedOneTime = NULL, oneTimeExpiresAt = NULL WHERE id = ?",
            arguments: [id]
        )
    }

    package func command(id: String) throws -> CommandRecord? {
        try database.read { db in
            try SQLRow.fetchOne(db, sql: "SELECT * FROM command WHERE id = ?", arguments: [id]).map(Self.command)
        }
    }

    /// Commands newest first, one page before `(createdAt, id)`, with optional filters.
    package func commands(
        before: (Double, String)?,
        limit: Int,
        status: CommandStatus? = nil,
        service: String? = nil,
        agentId: String? = nil
    ) throws -> [CommandRecord] {
        try database.read { db in
            var sql = "SELECT * FROM command WHERE (createdAt, id) < (?, ?)"
            var arguments: SQLArguments = [before?.0 ?? Double.greatestFiniteMagnitude, before?.1 ?? ""]
            if let status {
                sql += " AND status = ?"
                arguments.append(status.rawValue)
            }
            if let service {
                sql += " AND serviceCode = ?"
                arguments.append(service)
            }
            if let agentId {
                sql += " AND agentId = ?"
                arguments.append(agentId)
            }
            sql += " ORDER BY createdAt DESC, id DESC LIMIT ?"
            arguments.append(limit)
            return try SQLRow.fetchAll(db, sql: sql, arguments: arguments).map(Self.command)
        }
    }

    /// Every live (PENDING or RUNNING) command with its sealed payload, oldest first (loaded at start).
    package func liveCommands() throws -> [(CommandRecord, Data?)] {
        try database.read { db in
            try SQLRow.fetchAll(
                db,
                sql: "SELECT * FROM command WHERE status IN ('PENDING', 'RUNNING') ORDER BY createdAt, id"
            ).map {
                (try Self.command($0), $0["sealedPayload"] as Data?)
            }
        }
    }

    /// One-time result fields still held: command id → (sealed fields, expiry, the operator who may read them).
    package func oneTimeSecrets() throws -> [(id: String, sealed: Data, expiresAt: Date, actor: String)] {
        try database.read { db in
            try SQLRow.fetchAll(
                db,
                sql: "SELECT id, sealedOneTime, oneTimeExpiresAt, actor FROM command WHERE sealedOneTime IS NOT NULL"
            ).map {
                (
                    id: $0["id"], sealed: $0["sealedOneTime"], expiresAt: Date(storeValue: $0["oneTimeExpiresAt"] ?? 0),
                    actor: $0["actor"]
                )
            }
        }
    }

    /// A terminal command's sealed raw payload is gone; for a retry, the redacted one is all there is.
    package static func sealedPayload(_ db: any SQLConnection, id: String) throws -> Data? {
        try Data.fetchOne(db, sql: "SELECT sealedPayload FROM command WHERE id = ?", arguments: [id])
    }
}
