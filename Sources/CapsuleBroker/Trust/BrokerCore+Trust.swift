import CapsuleCrypto
import CapsuleDomain
import CapsuleProtocol
import CapsuleRuntime
import CapsuleStore
import CapsuleZMQ
import Foundation
import Logging

extension BrokerCore {
    // MARK: Enrolment

    /// Enrols an unknown key from its hello, then welcomes it; a refusal is answered with its code
    /// and audited, aggregated per key (`agent.enrollment_refused`).
    func enroll(_ hello: AgentHello, key: String, route: Data, corr: String, connection: Int32) {
        let at = now
        func refuse(_ code: ErrorBody.Code, _ message: String) {
            self.refuse(
                RefusalLedger.Refusal(
                    action: "agent.enrollment_refused",
                    subject: "key:\(key)",
                    actor: "key:\(key)",
                    reason: message,
                    details: [
                        "code": .string(code.rawValue),
                        "agentCode": .string(SafeText.clean(hello.agentCode, limit: 64)),
                    ]
                ),
                key: key
            )
            errorLog.log(
                "enrol|\(key)",
                level: .notice,
                "Refused an enrollment.",
                metadata: ["agent.code": "\(SafeText.clean(hello.agentCode, limit: 64))", "error.code": "\(code)"],
                logger: logger,
                now: at.timeIntervalSince1970
            )
            sendError(to: route, corr: corr, ErrorBody(code, message))
        }
        guard Identifier.isValid(hello.agentCode) else {
            return refuse(.invalidIdentifier, IdentifierError(what: "agent code", value: hello.agentCode).description)
        }
        guard hello.services.count <= IngestGate.maxServicesPerAgent else {
            return refuse(
                .tooManyServices,
                "hello names \(hello.services.count) services; an agent may declare at most \(IngestGate.maxServicesPerAgent)"
            )
        }
        if let bad = hello.services.first(where: { !Identifier.isValid($0) }) {
            return refuse(.invalidIdentifier, IdentifierError(what: "service code", value: bad).description)
        }
        guard let token = hello.enrollmentToken, !token.isEmpty else {
            return refuse(
                .enrollmentTokenRequired,
                "this key is not enrolled: start the agent once with a registration token (capsulectl token create)"
            )
        }
        guard token.utf8.count <= 128 else {
            return refuse(
                .tokenInvalid,
                "the registration token is not one this broker minted (\(token.utf8.count) bytes; tokens are under 128)"
            )
        }
        let code = hello.agentCode
        let journal = self.journal
        batch.add(
            { db -> Result<(BrokerStore.Enrolment, [AuditEvent], [Principal]), StoreError> in
                switch try BrokerStore.enroll(
                    db,
                    code: code,
                    publicKey: key,
                    tokenHash: Crypto.sha256Hex(token),
                    services: hello.services,
                    now: at
                ) {
                case .failure(let refusal):
                    return .failure(refusal)
                case .success(let enrolment):
                    let registered = try journal.append(
                        db,
                        AuditEvent(
                            publisher: "broker",
                            seq: 0,
                            at: at,
                            action: enrolment.reenrolled ? "agent.reenrolled" : "agent.registered",
                            subject: "agent:\(enrolment.agentId)",
                            actor: "agent:\(enrolment.agentId)",
                            to: AgentStatus.pending.rawValue,
                            reason: "enrolled agent code \(code) with token \(enrolment.tokenId)",
                            details: .object([
                                "agentCode": .string(code), "publicKey": .string(key),
                                "tokenId": .string(enrolment.tokenId),
                            ])
                        )
                    )
                    let used = try journal.append(
                        db,
                        AuditEvent(
                            publisher: "broker",
                            seq: 0,
                            at: at,
                            action: "token.used",
                            subject: "token:\(enrolment.tokenId)",
                            actor: "agent:\(enrolment.agentId)",
                            from: TokenStatus.active.rawValue,
                            to: TokenStatus.used.rawValue,
                            reason: "used by agent code \(code)"
                        )
                    )
                    return .success(
                        (enrolment, [registered, used], try BrokerStore.principals(db, identity: enrolment.agentId))
                    )
                }
            },
            done: { [unowned self] outcome in
                switch outcome {
                case .success(.success(let (enrolment, events, changed))):
                    learn(changed)
                    agentCodes[enrolment.agentId] = code
                    agentIds[code] = enrolment.agentId
                    events.forEach(publish)
                    logger.info(
                        "Agent enrolled.",
                        metadata: ["agent.id": "\(enrolment.agentId)", "agent.code": "\(code)"]
                    )
                    welcome(agentId: enrolment.agentId, route: route, corr: corr, connection: connection)
                case .success(.failure(let refusal)):
                    refuse(ErrorBody.Code(rawValue: refusal.code.rawValue), refusal.message)
                case .failure(let error):
                    storeFailed(error, what: "enrol an agent")
                    sendError(
                        to: route,
                        corr: corr,
                        ErrorBody(.internal, "enrollment failed: the broker could not write its store; try again")
                    )
                }
            }
        )
    }

    // MARK: Requests

    func registerTrustOperations() {
        on(BrokerOps.TokenCreate.self) { core, params, context, respond in
            try requireIdentifier(params.name, as: "token name")
            if let code = params.agentCode { try requireIdentifier(code, as: "agent code") }
            let seconds = params.expiresInSeconds ?? 3_600
            guard seconds >= 1, seconds <= 30 * 86_400 else {
                throw ErrorBody(.badRequest, "token expiry must be between 1 s and 30 days")
            }
            let (actor, role, at) = (context.principal.sender, context.principal.role ?? .viewer, core.now)
            let raw = Crypto.token(prefix: "cap_")
            core.write(respond) { db in
                let record = try BrokerStore.createToken(
                    db,
                    name: params.name,
                    hash: Crypto.sha256Hex(raw),
                    agentCode: params.agentCode,
                    expiresAt: at.addingTimeInterval(seconds),
                    actor: actor,
                    actorRole: role,
                    now: at
                )
                // The raw token leaves the broker exactly once, in this reply; only its hash is stored.
                return .success(
                    (TokenCreated(token: raw, record: record), [Self.tokenCreated(record, actor: actor, at: at)])
                )
            }
        }
        on(BrokerOps.TokenCreateBatch.self) { core, params, context, respond in
            try requireIdentifier(params.name, as: "token name")
            guard (1...BrokerOps.TokenCreateBatch.maxCount).contains(params.count) else {
                throw ErrorBody(
                    .badRequest,
                    "count must be between 1 and \(BrokerOps.TokenCreateBatch.maxCount) per request"
                )
            }
            let first = params.firstIndex ?? 1
            guard first >= 0, Identifier.isValid("\(params.name)-\(first + params.count)") else {
                throw ErrorBody(
                    .badRequest,
                    "token names \(params.name)-N must stay valid identifiers (at most 64 characters)"
                )
            }
            let seconds = params.expiresInSeconds ?? 3_600
            guard seconds >= 1, seconds <= 30 * 86_400 else {
                throw ErrorBody(.badRequest, "token expiry must be between 1 s and 30 days")
            }
            let (actor, role, at) = (context.principal.sender, context.principal.role ?? .viewer, core.now)
            let raws = (0..<params.count).map { _ in Crypto.token(prefix: "cap_") }
            core.write(respond) { db in
                var created: [TokenCreated] = []
                var events: [AuditEvent] = []
                for (offset, raw) in raws.enumerated() {
                    let record = try BrokerStore.createToken(
                        db,
                        name: "\(params.name)-\(first + offset)",
                        hash: Crypto.sha256Hex(raw),
                        agentCode: nil,
                        expiresAt: at.addingTimeInterval(seconds),
                        actor: actor,
                        actorRole: role,
                        now: at
                    )
                    created.append(TokenCreated(token: raw, record: record))
                    events.append(Self.tokenCreated(record, actor: actor, at: at))
                }
                return .success((BrokerOps.TokenCreateBatch.Result(tokens: created), events))
            }
        }
        on(BrokerOps.TokenList.self) { core, params, _, respond in
            let query = params.status?.rawValue ?? ""
            let before = try params.cursor.map { cursor -> (Double, String) in
                let key = try PageCursor.decode(cursor, query: query, count: 2)
                guard let at = Double(key[0]) else {
                    throw ErrorBody(.badCursor, "cursor is malformed; start again without a cursor")
                }
                return (at, key[1])
            }
            let limit = PageCursor.limit(params.limit)
            let rows = try core.store.tokens(now: core.now, before: before, limit: limit + 1, status: params.status)
            let items = Array(rows.prefix(limit))
            let next =
                rows.count > limit
                ? items.last.map { PageCursor.encode([String($0.createdAt.storeValue), $0.id], query: query) } : nil
            respond.succeed(Page(items: items, next: next))
        }
        on(BrokerOps.TokenRevoke.self) { core, params, context, respond in
            let (actor, at) = (context.principal.sender, core.now)
            core.write(respond) { db in
                try BrokerStore.revokeToken(db, id: params.id, now: at).map { record in
                    (
                        record,
                        [
                            AuditEvent(
                                publisher: "broker",
                                seq: 0,
                                at: at,
                                action: "token.revoked",
                                subject: "token:\(record.id)",
                                actor: actor,
                                from: TokenStatus.active.rawValue,
                                to: TokenStatus.revoked.rawValue,
                                reason: "revoked by \(actor)"
                            )
                        ]
                    )
                }
            }
        }
        on(BrokerOps.AgentList.self) { core, params, _, respond in
            let query = (params.states ?? []).map(\.rawValue).joined(separator: ",")
            let after = try params.cursor.map { try PageCursor.decode($0, query: query, count: 1)[0] }
            let limit = PageCursor.limit(params.limit)
            let rows = try core.store.agents(after: after, limit: limit + 1, states: params.states)
            let items = Array(rows.prefix(limit))
            let next = rows.count > limit ? items.last.map { PageCursor.encode([$0.code], query: query) } : nil
            respond.succeed(Page(items: items, next: next))
        }
        on(BrokerOps.AgentDisable.self) { core, params, context, respond in
            core.changeAgent(params.id, to: .disabled, context, respond)
        }
        on(BrokerOps.AgentEnable.self) { core, params, context, respond in
            core.changeAgent(params.id, to: .active, context, respond)
        }
        on(BrokerOps.AgentRevoke.self) { core, params, context, respond in
            core.changeAgent(params.id, to: .revoked, context, respond)
        }
        on(BrokerOps.AgentForget.self) { core, params, context, respond in
            let (actor, at, id) = (context.principal.sender, core.now, params.id)
            core.write(
                respond,
                { db in
                    try BrokerStore.forgetAgent(db, agentId: id).map { codes in
                        (
                            Empty(),
                            [
                                AuditEvent(
                                    publisher: "broker",
                                    seq: 0,
                                    at: at,
                                    action: "agent.forgotten",
                                    subject: "agent:\(id)",
                                    actor: actor,
                                    reason: "decommissioned by \(actor) with its services",
                                    details: .object(["services": .array(codes.map(JSONValue.string))])
                                )
                            ]
                                + codes.map { Self.serviceForgotten($0, actor: actor, at: at) }
                        )
                    }
                },
                then: { [unowned core] _ in
                    let codes = Set(core.services.values.filter { $0.agentId == id }.map(\.code))
                    for code in codes { core.services[code] = nil }
                    if let code = core.agentCodes.removeValue(forKey: id) { core.agentIds[code] = nil }
                    core.agentStates[id] = nil
                    core.presence.forget(id)
                    // The cancels go out on the agent's route (a running handler stops); the route goes after.
                    core.perform(core.commands.cancelAll(services: codes, actor: actor, now: at)) { [unowned core] _ in
                        core.agentRoutes[id] = nil
                    }
                }
            )
        }
        on(BrokerOps.ServiceForget.self) { core, params, context, respond in
            let (actor, at, code) = (context.principal.sender, core.now, params.code)
            guard core.services[code] != nil else {
                throw ErrorBody(.notFound, "no service named \(SafeText.quoted(code, limit: 64))")
            }
            core.write(
                respond,
                { db in
                    _ = try BrokerStore.forgetService(db, code: code)
                    return .success((Empty(), [Self.serviceForgotten(code, actor: actor, at: at)]))
                },
                then: { [unowned core] _ in
                    core.services[code] = nil
                    core.perform(core.commands.cancelAll(services: [code], actor: actor, now: at))
                }
            )
        }
        on(BrokerOps.OperatorAdd.self) { core, params, context, respond in
            try requireIdentifier(params.name, as: "operator name")
            guard CurveKey(z85: params.publicKey) != nil else {
                throw ErrorBody(.badRequest, "publicKey must be a 40-character Z85 CURVE public key")
            }
            let (actor, at) = (context.principal.sender, core.now)
            core.write(
                respond,
                { db in
                    try BrokerStore.addOperator(
                        db,
                        name: params.name,
                        publicKey: params.publicKey,
                        role: params.role,
                        now: at
                    ).map { record in
                        (
                            record,
                            [
                                AuditEvent(
                                    publisher: "broker",
                                    seq: 0,
                                    at: at,
                                    action: "operator.added",
                                    subject: "operator:\(params.name)",
                                    actor: actor,
                                    to: params.role.rawValue,
                                    reason: "added with role \(params.role.rawValue)"
                                )
                            ]
                        )
                    }
                },
                then: { [unowned core] record in
                    core.learn([
                        Principal(
                            publicKey: record.publicKey,
                            kind: .operator,
                            identity: record.name,
                            role: record.role,
                            createdAt: at
                        )
                    ])
                }
            )
        }
        on(BrokerOps.OperatorList.self) { core, params, _, respond in
            let after = try params.cursor.map { cursor -> (String, String) in
                let key = try PageCursor.decode(cursor, query: "", count: 2)
                return (key[0], key[1])
            }
            let limit = PageCursor.limit(params.limit)
            let rows = try core.store.operators(after: after, limit: limit + 1)
            let items = Array(rows.prefix(limit))
            let next =
                rows.count > limit ? items.last.map { PageCursor.encode([$0.name, $0.publicKey], query: "") } : nil
            respond.succeed(Page(items: items, next: next))
        }
        on(BrokerOps.OperatorRemove.self) { core, params, context, respond in
            guard params.name != context.principal.identity else {
                throw ErrorBody(.badRequest, "an owner cannot remove their own key")
            }
            let (actor, at) = (context.principal.sender, core.now)
            core.write(
                respond,
                { db in
                    try BrokerStore.removeOperator(db, name: params.name).map { record in
                        (
                            record,
                            [
                                AuditEvent(
                                    publisher: "broker",
                                    seq: 0,
                                    at: at,
                                    action: "operator.removed",
                                    subject: "operator:\(params.name)",
                                    actor: actor,
                                    from: KeyState.active.rawValue,
                                    to: KeyState.revoked.rawValue,
                                    reason: "removed by \(actor)"
                                )
                            ]
                        )
                    }
                },
                then: { [unowned core] record in
                    for (key, principal) in core.principals
                    where principal.kind == .operator && principal.identity == record.name {
                        core.principals[key]?.state = .revoked
                    }
                }
            )
        }
    }

    /// Disables, enables or revokes an agent. The change bites on the agent's next message; an
    /// enabled agent gets the commands that were held while it was disabled.
    private func changeAgent(
        _ id: String,
        to state: KeyState,
        _ context: RequestContext,
        _ respond: Responder<AgentRecord>
    ) {
        let (actor, at) = (context.principal.sender, now)
        let action = state == .active ? "agent.enabled" : state == .disabled ? "agent.disabled" : "agent.revoked"
        write(
            respond,
            { db in
                switch try BrokerStore.setAgentState(db, agentId: id, to: state) {
                case .failure(let refusal):
                    return .failure(refusal)
                case .success(let previous):
                    guard let record = try BrokerStore.agent(db, id: id) else {
                        return .failure(StoreError(.notFound, "no agent with id \(id)"))
                    }
                    let event = AuditEvent(
                        publisher: "broker",
                        seq: 0,
                        at: at,
                        action: action,
                        subject: "agent:\(id)",
                        actor: actor,
                        from: previous.rawValue,
                        to: state.rawValue,
                        reason: "\(action.replacingOccurrences(of: "agent.", with: "")) by \(actor)"
                    )
                    return .success((record, [event]))
                }
            },
            then: { [unowned self] _ in
                if let changed = try? store.database.read({ db in try BrokerStore.principals(db, identity: id) }) {
                    learn(changed)
                }
                switch state {
                case .revoked: agentRoutes[id] = nil
                case .active: perform(commands.agentReady(id, agent: agentView(id), now: now))
                case .disabled: break
                }
            }
        )
    }

    static func tokenCreated(_ record: TokenRecord, actor: String, at: Date) -> AuditEvent {
        var details: [String: JSONValue] = [
            "name": .string(record.name), "expiresAt": .string(ISO8601DateFormatter().string(from: record.expiresAt)),
        ]
        if let code = record.agentCode { details["agentCode"] = .string(code) }
        return AuditEvent(
            publisher: "broker",
            seq: 0,
            at: at,
            action: "token.created",
            subject: "token:\(record.id)",
            actor: actor,
            to: TokenStatus.active.rawValue,
            reason: "registration token \(record.name)",
            details: .object(details)
        )
    }

    static func serviceForgotten(_ code: String, actor: String, at: Date) -> AuditEvent {
        AuditEvent(
            publisher: "broker",
            seq: 0,
            at: at,
            action: "service.forgotten",
            subject: "service:\(code)",
            actor: actor,
            reason: "decommissioned by \(actor)"
        )
    }
}

/// Checks an identifier parameter; a bad one is the reply `invalid_identifier`.
func requireIdentifier(_ text: String, as what: String) throws(ErrorBody) {
    guard Identifier.isValid(text) else {
        throw ErrorBody(.invalidIdentifier, IdentifierError(what: what, value: text).description)
    }
}
