package import CapsuleDomain
package import CapsuleProtocol
package import Foundation

/// Registration tokens: stored by SHA-256 hash only.
extension BrokerStore {
    static func token(_ row: SQLRow, now: Date) -> TokenRecord {
        var status = TokenStatus(rawValue: row["status"]) ?? .revoked
        let expiresAt = Date(storeValue: row["expiresAt"])
        if status == .active && expiresAt <= now { status = .expired }
        return TokenRecord(
            id: row["id"],
            name: row["name"],
            agentCode: row["agentCode"],
            status: status,
            createdAt: Date(storeValue: row["createdAt"]),
            expiresAt: expiresAt,
            createdBy: row["createdBy"],
            usedBy: row["usedBy"],
            usedAt: (row["usedAt"] as Double?).map(Date.init(storeValue:))
        )
    }

    /// Stores a new token by its hash.
    package static func createToken(
        _ db: any SQLConnection,
        name: String,
        hash: String,
        agentCode: String?,
        expiresAt: Date,
        actor: String,
        actorRole: OperatorRole,
        now: Date
    ) throws -> TokenRecord {
        let id = "tok_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(12).lowercased()
        try db.execute(
            sql: """
                INSERT INTO token (id, name, hash, agentCode, status, createdAt, expiresAt, createdBy, createdByRole)
                VALUES (?, ?, ?, ?, 'ACTIVE', ?, ?, ?, ?)
                """,
            arguments: [id, name, hash, agentCode, now.storeValue, expiresAt.storeValue, actor, actorRole.rawValue]
        )
        return TokenRecord(
            id: id,
            name: name,
            agentCode: agentCode,
            status: .active,
            createdAt: now,
            expiresAt: expiresAt,
            createdBy: actor
        )
    }

    /// Tokens newest first, one page after `(createdAt, id)`.
    package func tokens(
        now: Date,
        before: (Double, String)?,
        limit: Int,
        status: TokenStatus? = nil
    ) throws -> [TokenRecord] {
        try database.read { db in
            var sql = "SELECT * FROM token WHERE (createdAt, id) < (?, ?)"
            var arguments: SQLArguments = [before?.0 ?? Double.greatestFiniteMagnitude, before?.1 ?? ""]
            switch status {
            case .expired?:
                sql += " AND status = 'ACTIVE' AND expiresAt <= ?"
                arguments.append(now.storeValue)
            case .active?:
                sql += " AND status = 'ACTIVE' AND expiresAt > ?"
                arguments.append(now.storeValue)
            case let other?:
                sql += " AND status = ?"
                arguments.append(other.rawValue)
            case nil:
                break
            }
            sql += " ORDER BY createdAt DESC, id DESC LIMIT ?"
            arguments.append(limit)
            return try SQLRow.fetchAll(db, sql: sql, arguments: arguments).map { Self.token($0, now: now) }
        }
    }

    package static func revokeToken(
        _ db: any SQLConnection,
        id: String,
        now: Date
    ) throws -> Result<TokenRecord, StoreError> {
        guard let row = try SQLRow.fetchOne(db, sql: "SELECT * FROM token WHERE id = ?", arguments: [id]) else {
            return .failure(StoreError(.notFound, "no token with id \(id)"))
        }
        var record = Self.token(row, now: now)
        guard record.status == .active else {
            return .failure(StoreError(.finalState, "token \(id) is already \(record.status.rawValue)"))
        }
        try db.execute(sql: "UPDATE token SET status = 'REVOKED' WHERE id = ?", arguments: [id])
        record.status = .revoked
        return .success(record)
    }
}
