import CapsuleDomain
import CapsuleProtocol
import Foundation
import GRDB

/// Registration tokens, token-based enrollment, agent administration and operators.
extension BrokerStore {
    private static func token(_ row: Row, now: Date) -> TokenRecord {
        var status = TokenStatus(rawValue: row["status"]) ?? .revoked
        let expiresAt = Date(storeValue: row["expiresAt"])
        if status == .active && expiresAt <= now { status = .expired }
        return TokenRecord(
            id: row["id"], name: row["name"], agentCode: row["agentCode"], status: status,
            createdAt: Date(storeValue: row["createdAt"]), expiresAt: expiresAt, createdBy: row["createdBy"],
            usedBy: row["usedBy"], usedAt: (row["usedAt"] as Double?).map(Date.init(storeValue:))
        )
    }

    /// Stores a new token by its hash and journals `token.created`.
    package func createToken(
        name: String, hash: String, agentCode: String?, expiresAt: Date, actor: String, actorRole: Principal.Role, now: Date
    ) throws -> (TokenRecord, AuditEvent) {
        try pool.write { db in
            let id = "tok_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(12).lowercased()
            try db.execute(
                sql: """
                    INSERT INTO token (id, name, hash, agentCode, status, createdAt, expiresAt, createdBy, createdByRole)
                    VALUES (?, ?, ?, ?, 'ACTIVE', ?, ?, ?, ?)
                    """,
                arguments: [id, name, hash, agentCode, now.storeValue, expiresAt.storeValue, actor, actorRole.rawValue]
            )
            let record = TokenRecord(id: id, name: name, agentCode: agentCode, status: .active, createdAt: now,
                                     expiresAt: expiresAt, createdBy: actor)
            let event = try EventJournal.append(db, publisher: Self.publisher) { seq in
                var details: [String: JSONValue] = ["name": .string(name), "expiresAt": .string(ISO8601DateFormatter().string(from: expiresAt))]
                if let agentCode { details["agentCode"] = .string(agentCode) }
                return AuditEvent(publisher: Self.publisher, seq: seq, at: now, action: "token.created", subject: "token:\(id)",
                                  actor: actor, to: TokenStatus.active.rawValue, reason: "registration token \(name)",
                                  details: .object(details))
            }
            return (record, event)
        }
    }

    package func tokens(now: Date) throws -> [TokenRecord] {
        try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM token ORDER BY createdAt DESC").map { Self.token($0, now: now) }
        }
    }

    package func revokeToken(id: String, actor: String, now: Date) throws -> (TokenRecord, AuditEvent) {
        try pool.write { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM token WHERE id = ?", arguments: [id]) else {
                throw StoreError(.notFound, "no token with id \(id)")
            }
            var record = Self.token(row, now: now)
            guard record.status == .active else {
                throw StoreError(.finalState, "token \(id) is already \(record.status.rawValue)")
            }
            try db.execute(sql: "UPDATE token SET status = 'REVOKED' WHERE id = ?", arguments: [id])
            record.status = .revoked
            let event = try EventJournal.append(db, publisher: Self.publisher) { seq in
                AuditEvent(publisher: Self.publisher, seq: seq, at: now, action: "token.revoked", subject: "token:\(id)",
                           actor: actor, from: TokenStatus.active.rawValue, to: TokenStatus.revoked.rawValue, reason: "revoked by \(actor)")
            }
            return (record, event)
        }
    }

    /// Enrols `publicKey` for agent `code` with a registration token (by its hash).
    ///
    /// A token can never take over an existing agent code unless it was minted for that code by an
    /// owner; then the code's agentId moves to the new key and the old key is revoked. A service code
    /// owned by another agent is refused, naming the owner.
    package func enroll(
        code: String, publicKey: String, tokenHash: String, services: [String], now: Date
    ) throws -> (agentId: String, events: [AuditEvent]) {
        try pool.write { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM token WHERE hash = ?", arguments: [tokenHash]) else {
                throw StoreError(.tokenInvalid, "registration token not recognised")
            }
            let token = Self.token(row, now: now)
            switch token.status {
            case .active: break
            case .used: throw StoreError(.tokenUsed, "registration token \(token.id) was already used by \(token.usedBy ?? "another agent")")
            case .expired: throw StoreError(.tokenExpired, "registration token \(token.id) expired at \(ISO8601DateFormatter().string(from: token.expiresAt))")
            case .revoked: throw StoreError(.tokenRevoked, "registration token \(token.id) was revoked")
            }
            if let bound = token.agentCode, bound != code {
                throw StoreError(.tokenCodeMismatch, "registration token \(token.id) was minted for agent code \(bound), not \(code)")
            }
            let existing = try Row.fetchOne(db, sql: "SELECT id, publicKey FROM agent WHERE code = ?", arguments: [code])
            let agentId: String
            var events: [AuditEvent] = []
            if let existing {
                let ownerRole = row["createdByRole"] as String
                guard token.agentCode == code, ownerRole == Principal.Role.owner.rawValue else {
                    throw StoreError(.codeTaken, "agent code \(code) is already enrolled as \(existing["id"] as String); re-enrolling it needs a token an owner minted for that code")
                }
                agentId = existing["id"]
                let oldKey: String = existing["publicKey"]
                try db.execute(sql: "UPDATE principal SET state = 'REVOKED' WHERE publicKey = ?", arguments: [oldKey])
                try db.execute(sql: "UPDATE agent SET publicKey = ? WHERE id = ?", arguments: [publicKey, agentId])
            } else {
                agentId = "agt_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(12).lowercased()
                try db.execute(sql: "INSERT INTO agent (id, code, publicKey, createdAt) VALUES (?, ?, ?, ?)",
                               arguments: [agentId, code, publicKey, now.storeValue])
            }
            for service in services {
                if let owner = try String.fetchOne(db, sql: "SELECT agentId FROM service WHERE code = ?", arguments: [service]),
                    owner != agentId
                {
                    throw StoreError(.serviceOwned, "service \(service) is owned by agent \(owner)")
                }
            }
            try Self.upsert(Principal(publicKey: publicKey, kind: .agent, identity: agentId, createdAt: now), db)
            try db.execute(sql: "UPDATE token SET status = 'USED', usedBy = ?, usedAt = ? WHERE id = ?",
                           arguments: [agentId, now.storeValue, token.id])
            events.append(try EventJournal.append(db, publisher: Self.publisher) { seq in
                AuditEvent(publisher: Self.publisher, seq: seq, at: now, action: existing == nil ? "agent.registered" : "agent.reenrolled",
                           subject: "agent:\(agentId)", actor: "agent:\(code)", to: AgentStatus.pending.rawValue,
                           reason: "enrolled agent code \(code) with token \(token.id)",
                           details: .object(["agentCode": .string(code), "publicKey": .string(publicKey), "tokenId": .string(token.id)]))
            })
            events.append(try EventJournal.append(db, publisher: Self.publisher) { seq in
                AuditEvent(publisher: Self.publisher, seq: seq, at: now, action: "token.used", subject: "token:\(token.id)",
                           actor: "agent:\(agentId)", from: TokenStatus.active.rawValue, to: TokenStatus.used.rawValue,
                           reason: "used by agent code \(code)")
            })
            return (agentId, events)
        }
    }

    /// Disables, re-enables or revokes an agent's key. Revocation is final.
    package func setAgentState(agentId: String, to state: Principal.State, actor: String, now: Date) throws -> AuditEvent {
        try pool.write { db in
            guard let key = try String.fetchOne(db, sql: "SELECT publicKey FROM agent WHERE id = ?", arguments: [agentId]),
                let current = try String.fetchOne(db, sql: "SELECT state FROM principal WHERE publicKey = ?", arguments: [key])
            else {
                throw StoreError(.notFound, "no agent with id \(agentId)")
            }
            if current == Principal.State.revoked.rawValue {
                throw StoreError(.finalState, "agent \(agentId) is revoked; only a fresh enrollment brings it back")
            }
            try db.execute(sql: "UPDATE principal SET state = ? WHERE publicKey = ?", arguments: [state.rawValue, key])
            let action: String
            switch state {
            case .active: action = "agent.enabled"
            case .disabled: action = "agent.disabled"
            case .revoked: action = "agent.revoked"
            }
            return try EventJournal.append(db, publisher: Self.publisher) { seq in
                AuditEvent(publisher: Self.publisher, seq: seq, at: now, action: action, subject: "agent:\(agentId)", actor: actor,
                           from: current, to: state.rawValue, reason: "\(action.replacingOccurrences(of: "agent.", with: "")) by \(actor)")
            }
        }
    }

    /// Adds an operator key with a role (owner only at the broker) and journals it.
    package func addOperator(name: String, publicKey: String, role: Principal.Role, actor: String, now: Date) throws -> AuditEvent {
        try pool.write { db in
            if try Row.fetchOne(db, sql: "SELECT 1 FROM principal WHERE kind = 'operator' AND identity = ? AND state = 'ACTIVE'",
                                arguments: [name]) != nil
            {
                throw StoreError(.conflict, "an operator named \(name) already exists")
            }
            if let other = try Row.fetchOne(db, sql: "SELECT kind, identity FROM principal WHERE publicKey = ?", arguments: [publicKey]) {
                throw StoreError(.conflict, "this key already belongs to \(other["kind"] as String) \(other["identity"] as String)")
            }
            try Self.upsert(Principal(publicKey: publicKey, kind: .operator, identity: name, role: role, createdAt: now), db)
            return try EventJournal.append(db, publisher: Self.publisher) { seq in
                AuditEvent(publisher: Self.publisher, seq: seq, at: now, action: "operator.added", subject: "operator:\(name)",
                           actor: actor, to: role.rawValue, reason: "added with role \(role.rawValue)")
            }
        }
    }

    package func removeOperator(name: String, actor: String, now: Date) throws -> AuditEvent {
        try pool.write { db in
            let changed = try Row.fetchAll(db, sql: "SELECT publicKey FROM principal WHERE kind = 'operator' AND identity = ? AND state = 'ACTIVE'",
                                           arguments: [name])
            guard !changed.isEmpty else { throw StoreError(.notFound, "no active operator named \(name)") }
            try db.execute(sql: "UPDATE principal SET state = 'REVOKED' WHERE kind = 'operator' AND identity = ?", arguments: [name])
            return try EventJournal.append(db, publisher: Self.publisher) { seq in
                AuditEvent(publisher: Self.publisher, seq: seq, at: now, action: "operator.removed", subject: "operator:\(name)",
                           actor: actor, from: Principal.State.active.rawValue, to: Principal.State.revoked.rawValue,
                           reason: "removed by \(actor)")
            }
        }
    }

    // MARK: Sealed payloads

    package func sealedPayload(id: String) throws -> Data? {
        try pool.read { db in try Data.fetchOne(db, sql: "SELECT sealedPayload FROM command WHERE id = ?", arguments: [id]) }
    }
}
