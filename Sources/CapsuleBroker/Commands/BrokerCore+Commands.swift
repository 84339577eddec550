import CapsuleCrypto
import CapsuleDomain
import CapsuleProtocol
import CapsuleRuntime
import CapsuleStore
import Foundation
import Logging

extension BrokerCore {
    func registerCommandOperations() {
        on(BrokerOps.CommandCreate.self) { core, params, context, respond in
            core.createCommand(
                params,
                actor: context.principal.sender,
                retryOf: nil,
                respond: respond,
                context: context
            )
        }
        on(BrokerOps.CommandGet.self) { core, params, context, respond in
            guard let record = core.commands.live[params.id]?.record ?? core.storedCommand(params.id) else {
                throw ErrorBody(.unknownCommand, "no command with id \(SafeText.clean(params.id, limit: 64))")
            }
            core.replyWithRecord(route: context.route, corr: context.corr, record, caller: context.principal.sender)
        }
        on(BrokerOps.CommandWait.self) { core, params, context, _ in
            let seconds = max(0, min(params.timeoutSeconds ?? 60, BrokerOps.CommandWait.maxSeconds))
            let waiter = CommandBook.Waiter(
                route: context.route,
                corr: context.corr,
                after: params.after,
                deadline: core.now.addingTimeInterval(seconds),
                caller: context.principal.sender
            )
            switch core.commands.wait(waiter, id: params.id, lookup: core.storedCommand) {
            case .success(let effects): core.perform(effects)
            case .failure(let error): throw error
            }
        }
        on(BrokerOps.CommandList.self) { core, params, _, respond in
            respond.succeed(try core.listCommands(params))
        }
        on(BrokerOps.CommandCancel.self) { core, params, context, respond in
            let (outcome, effects) = core.commands.cancel(
                params.id,
                actor: context.principal.sender,
                agent: core.agentView(
                    core.commands.live[params.id]?.record.agentId ?? ""
                ),
                now: core.now,
                lookup: core.storedCommand
            )
            core.perform(effects) { error in
                if let error {
                    return respond.fail(ErrorBody(.unavailable, "the cancel could not be stored (\(error))"))
                }
                respond(outcome)
            }
        }
        on(BrokerOps.CommandRetry.self) { core, params, context, respond in
            guard let original = core.commands.live[params.id]?.record ?? core.storedCommand(params.id) else {
                throw ErrorBody(.unknownCommand, "no command with id \(SafeText.clean(params.id, limit: 64))")
            }
            // The raw payload is kept only sealed and only until a command ends; what remains is the
            // redacted copy. Secret fields cannot be replayed from it: the operator types them again.
            let redacted = original.payload.paths(where: { $0 == .string(Redactor.placeholder) })
            guard redacted.isEmpty else {
                throw ErrorBody(
                    .badRequest,
                    "command \(original.id) had secret payload fields (\(redacted.joined(separator: ", "))); run the action again with --payload"
                )
            }
            core.createCommand(
                BrokerOps.CommandCreate.Params(
                    service: original.serviceCode,
                    action: original.action,
                    payload: original.payload,
                    confirm: params.confirm
                ),
                actor: context.principal.sender,
                retryOf: original.id,
                respond: respond,
                context: context
            )
        }
    }

    private func createCommand(
        _ params: BrokerOps.CommandCreate.Params,
        actor: String,
        retryOf: String?,
        respond: Responder<CommandRecord>,
        context: RequestContext
    ) {
        let service = services[params.service]
        let request = CommandBook.CreateRequest(
            id: IDs.make("cmd_", hexDigits: 16),
            params: params,
            actor: actor,
            now: now,
            defaultTTL: settings.commandTTLSeconds,
            retryOf: retryOf
        )
        switch commands.create(
            request,
            service: service?.manifest,
            agentId: service?.agentId,
            agent: service.map { agentView($0.agentId) } ?? .unknown
        ) {
        case .failure(let error):
            respond.fail(error)
        case .success(let (record, effects)):
            // With waitSeconds, a command that went out is answered when it is terminal: one round trip.
            let waits = (params.waitSeconds ?? 0) > 0 && record.queued == nil
            perform(effects) { [unowned self] error in
                if let error {
                    respond.fail(
                        ErrorBody(.unavailable, "the command could not be stored (\(error)); nothing was created")
                    )
                } else if waits {
                    let seconds = min(params.waitSeconds ?? 0, BrokerOps.CommandWait.maxSeconds)
                    let waiter = CommandBook.Waiter(
                        route: context.route,
                        corr: context.corr,
                        after: nil,
                        deadline: now.addingTimeInterval(seconds),
                        caller: actor
                    )
                    switch commands.wait(waiter, id: record.id, lookup: storedCommand) {
                    case .success(let effects): perform(effects)
                    case .failure: respond.succeed(record)
                    }
                } else {
                    respond.succeed(record)
                }
            }
        }
    }

    private func listCommands(_ params: BrokerOps.CommandList.Params) throws -> Page<CommandRecord> {
        let query = "\(params.status?.rawValue ?? "")|\(params.service ?? "")|\(params.agent ?? "")"
        var before: (Double, String)?
        if let cursor = params.cursor {
            let key = try PageCursor.decode(cursor, query: query, count: 2)
            guard let at = Double(key[0]) else {
                throw ErrorBody(.badCursor, "cursor is malformed; start again without a cursor")
            }
            before = (at, key[1])
        }
        let agentId = params.agent.map { agent in agentCodes[agent] != nil ? agent : agentIds[agent] ?? agent }
        let limit = PageCursor.limit(params.limit)
        let rows = try store.commands(
            before: before,
            limit: limit + 1,
            status: params.status,
            service: params.service,
            agentId: agentId
        )
        var builder = PageBuilder<CommandRecord>(limit: limit) { $0.estimatedSize }
        for row in rows where !builder.offer(commands.live[row.id]?.record ?? row) { break }
        let more = rows.count > builder.items.count
        let next =
            more
            ? builder.items.last.map { PageCursor.encode([String($0.createdAt.storeValue), $0.id], query: query) } : nil
        return Page(items: builder.items, next: next)
    }

    /// Replies with a command record; the operator who ran it gets the one-time result fields, once.
    func replyWithRecord(route: Data, corr: String, _ record: CommandRecord, caller: String) {
        var record = record
        if let secret = oneTimeSecrets[record.id], secret.actor == caller, record.status.isTerminal {
            oneTimeSecrets[record.id] = nil
            if let opened = payloadBox.open(secret.sealed), let value = try? WireCodec.fromJSON(JSONValue.self, opened)
            {
                record.oneTime = value
            }
            let id = record.id
            let at = now
            let journal = self.journal
            batch.add(
                { db -> AuditEvent in
                    try BrokerStore.clearOneTime(db, id: id)
                    return try journal.append(
                        db,
                        AuditEvent(
                            publisher: "broker",
                            seq: 0,
                            at: at,
                            action: "command.secret_read",
                            subject: "command:\(id)",
                            actor: caller,
                            reason: "one-time result fields shown to \(caller) and deleted"
                        )
                    )
                },
                done: { [unowned self] outcome in
                    switch outcome {
                    case .success(let event):
                        publish(event)
                        sendReply(to: route, corr: corr, result: record)
                    case .failure(let error):
                        storeFailed(error, what: "clear one-time fields")
                        record.oneTime = nil
                        sendReply(to: route, corr: corr, result: record)
                    }
                }
            )
            return
        }
        sendReply(to: route, corr: corr, result: record)
    }

    /// One-time result fields nobody read within their TTL are deleted, and that is audited.
    func expireOneTimeSecrets(now current: Date) {
        for (id, secret) in oneTimeSecrets where secret.expiresAt <= current {
            oneTimeSecrets[id] = nil
            let journal = self.journal
            batch.add(
                { db -> AuditEvent in
                    try BrokerStore.clearOneTime(db, id: id)
                    return try journal.append(
                        db,
                        AuditEvent(
                            publisher: "broker",
                            seq: 0,
                            at: current,
                            action: "command.secret_expired",
                            subject: "command:\(id)",
                            actor: "system",
                            reason:
                                "one-time result fields were not read within \(Int(Self.oneTimeTTL)) s and were deleted"
                        )
                    )
                },
                done: { [unowned self] outcome in
                    if case .success(let event) = outcome { publish(event) }
                }
            )
        }
    }

    // MARK: Carrying out the command book's effects

    /// Carries out ``CommandBook`` effects: persistence goes into this turn's batch, and every send
    /// waits until it is committed (a command is never pushed, and no one is told, before it is
    /// durable). If the write fails, the book is put back as it was. `then` runs after the commit
    /// (with the error, if it failed), or at once when nothing had to be written.
    func perform(_ effects: [CommandBook.Effect], then: (((any Error)?) -> Void)? = nil) {
        guard !effects.isEmpty else {
            then?(nil)
            return
        }
        let writes = effects.filter(\.isWrite)
        guard !writes.isEmpty else {
            send(effects)
            then?(nil)
            return
        }
        let box = payloadBox
        let journal = self.journal
        let at = now
        var sealedOneTime: [String: Data] = [:]
        for case .change(let record, _, _, let oneTime?) in writes {
            sealedOneTime[record.id] = box.seal(WireCodec.json(oneTime))
        }
        batch.add(
            { (db: any SQLConnection) -> [AuditEvent] in
                var events: [AuditEvent] = []
                for effect in writes {
                    switch effect {
                    case .create(let record, let raw, let event):
                        try BrokerStore.insert(db, record, sealedPayload: box.seal(WireCodec.json(raw)))
                        events.append(try journal.append(db, event))
                    case .change(let record, _, let event, _):
                        let sealed = sealedOneTime[record.id]
                        try BrokerStore.update(
                            db,
                            record,
                            sealedOneTime: sealed,
                            oneTimeExpiresAt: sealed == nil ? nil : at.addingTimeInterval(Self.oneTimeTTL)
                        )
                        events.append(try journal.append(db, event))
                    case .journal(let event):
                        events.append(try journal.append(db, event))
                    default:
                        break
                    }
                }
                return events
            },
            done: { [unowned self] outcome in
                switch outcome {
                case .success(let events):
                    for case .change(let record, _, _, _) in writes {
                        if let sealed = sealedOneTime[record.id] {
                            oneTimeSecrets[record.id] = OneTimeSecret(
                                sealed: sealed,
                                expiresAt: at.addingTimeInterval(Self.oneTimeTTL),
                                actor: record.actor
                            )
                        }
                    }
                    events.forEach(publish)
                    countOutcomes(writes)
                    send(effects)
                    then?(nil)
                case .failure(let error):
                    storeFailed(error, what: "store a command")
                    for effect in writes.reversed() {
                        switch effect {
                        case .create(let record, _, _): commands.discard(record.id)
                        case .change(let record, let previous, _, _): commands.restore(previous, id: record.id)
                        default: break
                        }
                    }
                    then?(error)
                }
            }
        )
    }

    /// Commands created, and commands that just reached a terminal status (metrics).
    private func countOutcomes(_ writes: [CommandBook.Effect]) {
        for effect in writes {
            switch effect {
            case .create: metrics.created()
            case .change(let record, let previous, _, _)
            where record.status.isTerminal && previous?.record.status.isTerminal != true:
                metrics.finished(record)
            default: break
            }
        }
    }

    private func send(_ effects: [CommandBook.Effect]) {
        for effect in effects {
            switch effect {
            case .dispatch(let agentId, let body):
                if !sendToAgent(agentId, type: .commandDispatch, body: body) { commands.undelivered(body.commandId) }
            case .cancel(let agentId, let ref):
                sendToAgent(agentId, type: .commandCancel, body: ref)
            case .agentError(let route, let corr, let error):
                sendError(to: route, corr: corr, error)
            case .reply(let route, let corr, let record, let caller):
                replyWithRecord(route: route, corr: corr, record, caller: caller)
            case .agentRefusal(let refusal, let agentId):
                refuse(refusal, key: "agent:\(agentId)")
            case .create, .change, .journal:
                break
            }
        }
    }
}

extension CommandBook.Effect {
    /// Whether the effect goes into the turn's write batch (the rest is sent after it commits).
    var isWrite: Bool {
        switch self {
        case .create, .change, .journal: true
        case .dispatch, .cancel, .agentError, .reply, .agentRefusal: false
        }
    }
}

/// Random identifiers (`cmd_…`, `tok_…`) from the system generator, without a file open per id.
enum IDs {
    static func make(_ prefix: String, hexDigits: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        var text = prefix
        var remaining = hexDigits
        while remaining > 0 {
            let chunk = String(generator.next() as UInt64, radix: 16)
            let padded = String(repeating: "0", count: 16 - chunk.count) + chunk
            text += padded.prefix(min(16, remaining))
            remaining -= 16
        }
        return text
    }
}

extension JSONValue {
    /// The JSON paths (`$.a.b`, `$.list[2]`) of values that match `predicate`.
    func paths(where predicate: (JSONValue) -> Bool, at path: String = "$") -> [String] {
        if predicate(self) { return [path] }
        switch self {
        case .object(let object):
            return object.keys.sorted().flatMap { object[$0]!.paths(where: predicate, at: "\(path).\($0)") }
        case .array(let items): return items.enumerated().flatMap { $1.paths(where: predicate, at: "\(path)[\($0)]") }
        default: return []
        }
    }
}
