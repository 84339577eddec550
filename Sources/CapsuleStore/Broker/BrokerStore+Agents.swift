package import CapsuleDomain
package import CapsuleProtocol
package import Foundation

/// Agents, token enrolment and service ownership.
extension BrokerStore {
    private static let agentColumns = """
        SELECT agent.id, agent.code, agent.publicKey, agent.createdAt, principal.state
        FROM agent JOIN principal ON principal.publicKey = agent.publicKey
        """

    private static func agent(_ row: SQLRow) -> AgentRecord {
        AgentRecord(
            id: row["id"],
            code: row["code"],
            publicKey: row["publicKey"],
            state: KeyState(rawValue: row["state"]) ?? .revoked,
            createdAt: Date(storeValue: row["createdAt"])
        )
    }

    /// Agents sorted by code, one page after the code `after`, optionally only in some key states.
    package func agents(after: String?, limit: Int, states: [KeyState]? = nil) throws -> [AgentRecord] {
        try database.read { db in
            var sql = Self.agentColumns + " WHERE agent.code > ?"
            var arguments: SQLArguments = [after ?? ""]
            if let states, !states.isEmpty {
                sql += " AND principal.state IN (\(states.map { _ in "?" }.joined(separator: ",")))"
                for state in states { arguments.append(state.rawValue) }
            }
            sql += " ORDER BY agent.code LIMIT ?"
            arguments.append(limit)
            return try SQLRow.fetchAll(db, sql: sql, arguments: arguments).map(Self.agent)
        }
    }

    package func agent(id: String) throws -> AgentRecord? {
        try database.read { db in try Self.agent(db, id: id) }
    }

    package static func agent(_ db: any SQLConnection, id: String) throws -> AgentRecord? {
        try SQLRow.fetchOne(db, sql: agentColumns + " WHERE agent.id = ?", arguments: [id]).map(Self.agent)
    }

    package func agent(code: String) throws -> AgentRecord? {
        try database.read { db in
            try SQLRow.fetchOne(db, sql: Self.agentColumns + " WHERE agent.code = ?", arguments: [code]).map(Self.agent)
        }
    }

    /// agentId → code for every agent (loaded once at start; hellos then cost one dictionary lookup).
    package func agentCodes() throws -> [String: String] {
        try database.read { db in
            var codes: [String: String] = [:]
            for row in try SQLRow.fetchAll(db, sql: "SELECT id, code FROM agent") { codes[row["id"]] = row["code"] }
            return codes
        }
    }

    /// What an enrolment did, for the broker to journal.
    package struct Enrolment: Sendable {
        package var agentId: String
        package var code: String
        package var tokenId: String
        /// True when an owner's token moved an existing code to this key (the old key is revoked).
        package var reenrolled: Bool
        package var revokedKey: String?
    }

    /// Enrols `publicKey` for agent `code` with a registration token (by its hash). A refusal is
    /// returned with its code.
    ///
    /// A token can never take over an existing agent code unless it was minted for that code by an
    /// owner; then the code's agentId moves to the new key and the old key is revoked. A service code
    /// owned by another agent is refused, naming the owner.
    package static func enroll(
        _ db: any SQLConnection,
        code: String,
        publicKey: String,
        tokenHash: String,
        services: [String],
        now: Date
    ) throws -> Result<Enrolment, StoreError> {
        guard let row = try SQLRow.fetchOne(db, sql: "SELECT * FROM token WHERE hash = ?", arguments: [tokenHash])
        else {
            return .failure(StoreError(.tokenInvalid, "registration token not recognised"))
        }
        let token = Self.token(row, now: now)
        switch token.status {
        case .active: break
        case .used:
            return .failure(
                StoreError(
                    .tokenUsed,
                    "registration token \(token.id) was already used by \(token.usedBy ?? "another agent")"
                )
            )
        case .expired:
            return .failure(
                StoreError(
                    .tokenExpired,
                    "registration token \(token.id) expired at \(ISO8601DateFormatter().string(from: token.expiresAt))"
                )
            )
        case .revoked: return .failure(StoreError(.tokenRevoked, "registration token \(token.id) was revoked"))
        }
        if let bound = token.agentCode, bound != code {
            return .failure(
                StoreError(
                    .tokenCodeMismatch,
                    "registration token \(token.id) was minted for agent code \(bound), not \(code)"
                )
            )
        }
        let existing = try SQLRow.fetchOne(db, sql: "SELECT id, publicKey FROM agent WHERE code = ?", arguments: [code])
        let agentId: String
        var revokedKey: String?
        if let existing {
            let ownerRole = row["createdByRole"] as String
            guard token.agentCode == code, ownerRole == OperatorRole.owner.rawValue else {
                return .failure(
                    StoreError(
                        .codeTaken,
                        "agent code \(code) is already enrolled as \(existing["id"] as String); re-enrolling it needs a token an owner minted for that code"
                    )
                )
            }
            agentId = existing["id"]
            let oldKey: String = existing["publicKey"]
            revokedKey = oldKey
            try db.execute(sql: "UPDATE principal SET state = 'REVOKED' WHERE publicKey = ?", arguments: [oldKey])
            try db.execute(sql: "UPDATE agent SET publicKey = ? WHERE id = ?", arguments: [publicKey, agentId])
        } else {
            agentId = "agt_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(12).lowercased()
        }
        for service in services {
            if let owner = try String.fetchOne(
                db,
                sql: "SELECT agentId FROM service WHERE code = ?",
                arguments: [service]
            ), owner != agentId {
                return .failure(StoreError(.serviceOwned, "service \(service) is owned by agent \(owner)"))
            }
        }
        if existing == nil {
            try db.execute(
                sql: "INSERT INTO agent (id, code, publicKey, createdAt) VALUES (?, ?, ?, ?)",
                arguments: [agentId, code, publicKey, now.storeValue]
            )
        }
        try upsert(Principal(publicKey: publicKey, kind: .agent, identity: agentId, createdAt: now), db)
        try db.execute(
            sql: "UPDATE token SET status = 'USED', usedBy = ?, usedAt = ? WHERE id = ?",
            arguments: [agentId, now.storeValue, token.id]
        )
        return .success(
            Enrolment(
                agentId: agentId,
                code: code,
                tokenId: token.id,
                reenrolled: existing != nil,
                revokedKey: revokedKey
            )
        )
    }

    /// Disables, re-enables or revokes an agent's key; returns the state it had. Revocation is final.
    package static func setAgentState(
        _ db: any SQLConnection,
        agentId: String,
        to state: KeyState
    ) throws -> Result<KeyState, StoreError> {
        guard let key = try String.fetchOne(db, sql: "SELECT publicKey FROM agent WHERE id = ?", arguments: [agentId]),
            let currentText = try String.fetchOne(
                db,
                sql: "SELECT state FROM principal WHERE publicKey = ?",
                arguments: [key]
            ),
            let current = KeyState(rawValue: currentText)
        else {
            return .failure(StoreError(.notFound, "no agent with id \(agentId)"))
        }
        if current == .revoked {
            return .failure(
                StoreError(.finalState, "agent \(agentId) is revoked; only a fresh enrollment brings it back")
            )
        }
        try db.execute(sql: "UPDATE principal SET state = ? WHERE publicKey = ?", arguments: [state.rawValue, key])
        return .success(current)
    }

    /// Removes a revoked agent and the services it owned; returns the service codes removed.
    package static func forgetAgent(_ db: any SQLConnection, agentId: String) throws -> Result<[String], StoreError> {
        guard let agent = try Self.agent(db, id: agentId) else {
            return .failure(StoreError(.notFound, "no agent with id \(agentId)"))
        }
        guard agent.state == .revoked else {
            return .failure(
                StoreError(
                    .badRequest,
                    "agent \(agentId) is \(agent.state.rawValue); revoke it first (capsulectl agent revoke \(agentId))"
                )
            )
        }
        let codes = try String.fetchAll(db, sql: "SELECT code FROM service WHERE agentId = ?", arguments: [agentId])
        try db.execute(sql: "DELETE FROM service WHERE agentId = ?", arguments: [agentId])
        try db.execute(sql: "DELETE FROM agent WHERE id = ?", arguments: [agentId])
        return .success(codes)
    }

    // MARK: Services

    /// A service code, its owner and its sanitized manifest.
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

    /// Records the manifests an agent reported (already sanitized). A report that names a code owned
    /// by another agent is refused whole, naming each owner; returns the refusals.
    package static func claimServices(
        _ db: any SQLConnection,
        agentId: String,
        manifests: [ServiceManifest],
        now: Date
    ) throws -> [String] {
        var refused: [String] = []
        for manifest in manifests {
            if let owner = try String.fetchOne(
                db,
                sql: "SELECT agentId FROM service WHERE code = ?",
                arguments: [manifest.code]
            ),
                owner != agentId
            {
                refused.append("service \(manifest.code) is owned by agent \(owner)")
            }
        }
        guard refused.isEmpty else { return refused }
        for manifest in manifests {
            try db.execute(
                sql: """
                    INSERT INTO service (code, agentId, manifest, updatedAt) VALUES (?, ?, ?, ?)
                    ON CONFLICT(code) DO UPDATE SET manifest = excluded.manifest, updatedAt = excluded.updatedAt
                    """,
                arguments: [
                    manifest.code, agentId, String(decoding: WireCodec.json(manifest), as: UTF8.self), now.storeValue,
                ]
            )
        }
        return refused
    }

    package static func forgetService(_ db: any SQLConnection, code: String) throws -> Bool {
        try db.executeCounting(sql: "DELETE FROM service WHERE code = ?", arguments: [code]) > 0
    }

    package func services() throws -> [ServiceRecord] {
        try database.read { db in
            try SQLRow.fetchAll(db, sql: "SELECT code, agentId, manifest FROM service").compactMap { row in
                guard
                    let manifest = try? WireCodec.fromJSON(ServiceManifest.self, Data((row["manifest"] as String).utf8))
                else {
                    return nil
                }
                return ServiceRecord(code: row["code"], agentId: row["agentId"], manifest: manifest)
            }
        }
    }
}
