package import CapsuleProtocol
package import Foundation

/// Enrolled keys: agents, internal services and operators.
extension BrokerStore {
    package func principals() throws -> [Principal] {
        try database.read { db in try SQLRow.fetchAll(db, sql: "SELECT * FROM principal").map(Self.principal) }
    }

    /// Every key (current or revoked) held by one identity: an agentId, a service or an operator name.
    package static func principals(_ db: any SQLConnection, identity: String) throws -> [Principal] {
        try SQLRow.fetchAll(db, sql: "SELECT * FROM principal WHERE identity = ?", arguments: [identity]).map(
            Self.principal
        )
    }

    package func principal(publicKey: String) throws -> Principal? {
        try database.read { db in
            try SQLRow.fetchOne(db, sql: "SELECT * FROM principal WHERE publicKey = ?", arguments: [publicKey]).map(
                Self.principal
            )
        }
    }

    /// Inserts or replaces a principal.
    package func upsert(_ principal: Principal) throws {
        try database.write { db in try Self.upsert(principal, db) }
    }

    package static func upsert(_ principal: Principal, _ db: any SQLConnection) throws {
        try db.execute(
            sql: """
                INSERT INTO principal (publicKey, kind, identity, role, state, createdAt) VALUES (?, ?, ?, ?, ?, ?)
                ON CONFLICT(publicKey) DO UPDATE SET kind = excluded.kind, identity = excluded.identity,
                    role = excluded.role, state = excluded.state
                """,
            arguments: [
                principal.publicKey, principal.kind.rawValue, principal.identity, principal.role?.rawValue,
                principal.state.rawValue, principal.createdAt.storeValue,
            ]
        )
    }

    static func principal(_ row: SQLRow) -> Principal {
        Principal(
            publicKey: row["publicKey"],
            kind: Principal.Kind(rawValue: row["kind"]) ?? .agent,
            identity: row["identity"],
            role: (row["role"] as String?).flatMap(OperatorRole.init(rawValue:)),
            state: KeyState(rawValue: row["state"]) ?? .revoked,
            createdAt: Date(storeValue: row["createdAt"])
        )
    }

    // MARK: Operators

    /// Adds an operator key with a role; a refusal (name or key in use) is returned, not thrown.
    package static func addOperator(
        _ db: any SQLConnection,
        name: String,
        publicKey: String,
        role: OperatorRole,
        now: Date
    ) throws
        -> Result<OperatorRecord, StoreError>
    {
        if try SQLRow.fetchOne(
            db,
            sql: "SELECT 1 FROM principal WHERE kind = 'operator' AND identity = ? AND state = 'ACTIVE'",
            arguments: [name]
        ) != nil {
            return .failure(StoreError(.conflict, "an operator named \(name) already exists"))
        }
        if let other = try SQLRow.fetchOne(
            db,
            sql: "SELECT kind, identity FROM principal WHERE publicKey = ?",
            arguments: [publicKey]
        ) {
            return .failure(
                StoreError(
                    .conflict,
                    "this key already belongs to \(other["kind"] as String) \(other["identity"] as String)"
                )
            )
        }
        try upsert(Principal(publicKey: publicKey, kind: .operator, identity: name, role: role, createdAt: now), db)
        return .success(OperatorRecord(name: name, role: role, state: .active, publicKey: publicKey, createdAt: now))
    }

    package static func removeOperator(
        _ db: any SQLConnection,
        name: String
    ) throws -> Result<OperatorRecord, StoreError> {
        guard
            let row = try SQLRow.fetchOne(
                db,
                sql: "SELECT * FROM principal WHERE kind = 'operator' AND identity = ? AND state = 'ACTIVE'",
                arguments: [name]
            )
        else { return .failure(StoreError(.notFound, "no active operator named \(name)")) }
        try db.execute(
            sql: "UPDATE principal SET state = 'REVOKED' WHERE kind = 'operator' AND identity = ?",
            arguments: [name]
        )
        var principal = Self.principal(row)
        principal.state = .revoked
        return .success(
            OperatorRecord(
                name: name,
                role: principal.role ?? .viewer,
                state: .revoked,
                publicKey: principal.publicKey,
                createdAt: principal.createdAt
            )
        )
    }

    /// Operators sorted by name (then key), one page after `(name, publicKey)`.
    package func operators(after: (String, String)?, limit: Int) throws -> [OperatorRecord] {
        try database.read { db in
            try SQLRow.fetchAll(
                db,
                sql: """
                    SELECT * FROM principal WHERE kind = 'operator' AND (identity, publicKey) > (?, ?)
                    ORDER BY identity, publicKey LIMIT ?
                    """,
                arguments: [after?.0 ?? "", after?.1 ?? "", limit]
            ).map(Self.principal).map {
                OperatorRecord(
                    name: $0.identity,
                    role: $0.role ?? .viewer,
                    state: $0.state,
                    publicKey: $0.publicKey,
                    createdAt: $0.createdAt
                )
            }
        }
    }
}
