import CapsuleDomain
import CapsuleProtocol
import Foundation

/// The broker's command lifecycle (design §4) as a value type: an event goes in, effects come out,
/// and ``BrokerCore`` carries them out (persist, then send). No sockets, no store, no clock of its
/// own: the caller passes `now` and what it knows about agents.
///
/// It holds every live (PENDING or RUNNING) command in memory with its raw payload, so dispatch and
/// expiry never touch the store; terminal commands live only in the store.
struct CommandBook {
    struct Live: Sendable {
        var record: CommandRecord
        /// The payload as the operator gave it, secrets included; only the agent ever receives it.
        var raw: JSONValue
        /// Result fields the action declared one-time.
        var oneTimeFields: [String]
    }

    /// A parked `command.wait`.
    struct Waiter {
        var route: Data
        var corr: String
        var after: CommandStatus?
        var deadline: Date
        var caller: String
    }

    enum Effect {
        /// Persist a new command and journal `event`, in one transaction.
        case create(CommandRecord, raw: JSONValue, event: AuditEvent)
        /// Persist a command's new state and journal `event`. If the write fails, `previous` is put back.
        case change(CommandRecord, previous: Live?, event: AuditEvent, oneTime: JSONValue?)
        /// Journal an event that changes no command (an operator's refused update).
        case journal(AuditEvent)
        /// An agent's refused ack or result, audited through the refusal ledger: the first of its kind
        /// per agent and window at once, repeats counted (an agent looping on them adds no rows).
        case agentRefusal(RefusalLedger.Refusal, agentId: String)
        case dispatch(agentId: String, CommandDispatch)
        case cancel(agentId: String, CommandRef)
        /// An `error` to an agent on the router.
        case agentError(route: Data, corr: String?, ErrorBody)
        /// A reply to a request (a `command.wait` or `command.get`).
        case reply(route: Data, corr: String, CommandRecord, caller: String)
    }

    /// A result body larger than this is refused (`oversized`) and its command fails `result_too_large`.
    static let maxResultBytes = 64 * 1024
    /// Longest result message kept; longer ones are cut with a marker.
    static let maxMessageBytes = 4 * 1024
    static let oneTimePlaceholder = "[ONE-TIME]"

    private(set) var live: [String: Live] = [:]
    /// Live command ids per agent, oldest first.
    private var byAgent: [String: [String]] = [:]
    private var waiters: [String: [Waiter]] = [:]

    init(live commands: [Live] = []) {
        for command in commands { insert(command) }
    }

    var liveCount: Int { live.count }
    var waiterCount: Int { waiters.values.reduce(0) { $0 + $1.count } }

    private mutating func insert(_ command: Live) {
        live[command.record.id] = command
        byAgent[command.record.agentId, default: []].append(command.record.id)
    }

    @discardableResult
    private mutating func remove(_ id: String) -> Live? {
        guard let command = live.removeValue(forKey: id) else { return nil }
        byAgent[command.record.agentId]?.removeAll { $0 == id }
        if byAgent[command.record.agentId]?.isEmpty == true { byAgent[command.record.agentId] = nil }
        return command
    }

    /// Puts a command back as it was before a change whose write failed.
    mutating func restore(_ previous: Live?, id: String) {
        remove(id)
        guard let previous else { return }
        // Back in its place by creation, not at the end: the agent still gets its commands oldest first.
        live[id] = previous
        var ids = byAgent[previous.record.agentId, default: []]
        let index =
            ids.firstIndex { live[$0].map { $0.record.createdAt > previous.record.createdAt } ?? false } ?? ids.endIndex
        ids.insert(id, at: index)
        byAgent[previous.record.agentId] = ids
    }

    /// Forgets a command whose creation could not be persisted.
    mutating func discard(_ id: String) { remove(id) }

    // MARK: Create

    struct CreateRequest {
        var id: String
        var params: BrokerOps.CommandCreate.Params
        var actor: String
        var now: Date
        var defaultTTL: Double
        var retryOf: String? = nil
    }

    /// Validates `request` against the service's declaration and the agent's state, and creates the
    /// command. Checks, in order: unknown service, unknown action, agent disabled or revoked,
    /// confirmation, input schema, `requireOnline`.
    mutating func create(
        _ request: CreateRequest,
        service: ServiceManifest?,
        agentId: String?,
        agent: AgentView
    )
        -> Result<(CommandRecord, [Effect]), ErrorBody>
    {
        let params = request.params
        guard let service, let agentId else {
            return .failure(
                ErrorBody(
                    .unknownService,
                    "no service named \(SafeText.quoted(params.service, limit: 80)) (see capsulectl status)"
                )
            )
        }
        guard let action = service.action(named: params.action) else {
            let names = service.actions.map(\.name).joined(separator: ", ")
            return .failure(
                ErrorBody(
                    .unknownAction,
                    "service \(service.code) has no action \(SafeText.quoted(params.action, limit: 80)) (actions: \(names.isEmpty ? "none" : names))"
                )
            )
        }
        switch agent.state {
        case .disabled:
            return .failure(
                ErrorBody(
                    .agentDisabled,
                    "the agent of \(service.code) (\(agentId)) is disabled; enable it first (capsulectl agent enable \(agentId))"
                )
            )
        case .revoked:
            return .failure(
                ErrorBody(
                    .agentRevoked,
                    "the agent of \(service.code) (\(agentId)) is revoked; no command can reach it"
                )
            )
        case .active:
            break
        }
        if action.requiresConfirmation && params.confirm != true {
            return .failure(
                ErrorBody(
                    .confirmationRequired,
                    "action \(action.name) on \(service.code) is \(action.dangerLevel.rawValue) and requires --confirm"
                )
            )
        }
        let payload = params.payload ?? .object([:])
        if let schema = action.inputSchema {
            do {
                try JSONSchemaValidator.validate(payload, against: schema)
            } catch {
                return .failure(
                    ErrorBody(.invalidPayload, "payload fails the input schema of \(action.name): \(error)")
                )
            }
        }
        let connected = agent.routable && agent.presence == "ONLINE"
        if params.requireOnline == true && !connected {
            let state = agent.routable ? agent.presence : "not connected"
            return .failure(
                ErrorBody(
                    .agentOffline,
                    "the agent of \(service.code) is \(state); nothing was created (drop --require-online to queue it)"
                )
            )
        }
        let ttl = action.timeoutSeconds.map(Double.init) ?? request.defaultTTL
        var record = CommandRecord(
            id: request.id,
            serviceCode: service.code,
            agentId: agentId,
            action: action.name,
            payload: Redactor.redact(payload),
            status: .pending,
            actor: request.actor,
            createdAt: request.now,
            updatedAt: request.now,
            expiresAt: request.now.addingTimeInterval(ttl),
            retryOf: request.retryOf
        )
        let event = AuditEvent(
            publisher: "broker",
            seq: 0,
            at: request.now,
            action: "command.created",
            subject: "command:\(record.id)",
            actor: request.actor,
            to: CommandStatus.pending.rawValue,
            reason: "\(action.name) on \(service.code)",
            details: .object(
                [
                    "service": .string(service.code), "action": .string(action.name), "agentId": .string(agentId),
                    "payload": record.payload,
                ].merging(request.retryOf.map { ["retryOf": .string($0)] } ?? [:]) { a, _ in a }
            )
        )
        var effects: [Effect] = []
        if agent.routable {
            record.deliveries = 1
        }
        let stored = Live(record: record, raw: payload, oneTimeFields: action.oneTimeResultFields ?? [])
        effects.append(.create(record, raw: payload, event: event))
        if agent.routable { effects.append(.dispatch(agentId: agentId, dispatchBody(stored))) }
        insert(stored)
        // The reply says when the command waits instead of going out now, so the CLI can warn.
        if !connected {
            let offline = agent.presence == "OFFLINE" || agent.presence == "STALE"
            record.queued = offline ? "agent \(agent.presence)" : (agent.routable ? nil : "agent not connected")
        }
        return .success((record, effects))
    }

    private func dispatchBody(_ command: Live) -> CommandDispatch {
        CommandDispatch(
            commandId: command.record.id,
            serviceCode: command.record.serviceCode,
            action: command.record.action,
            payload: command.raw,
            expiresAt: command.record.expiresAt
        )
    }

    // MARK: Delivery

    /// The agent said hello (or was enabled) and may receive commands: push every live one, oldest first.
    mutating func agentReady(_ agentId: String, agent: AgentView, now: Date) -> [Effect] {
        guard agent.state == .active, agent.routable, let ids = byAgent[agentId] else { return [] }
        var effects: [Effect] = []
        for id in ids {
            guard var command = live[id], command.record.expiresAt > now else { continue }
            command.record.deliveries += 1
            live[id] = command
            effects.append(.dispatch(agentId: agentId, dispatchBody(command)))
        }
        return effects
    }

    /// A dispatch could not be sent after all (the route vanished): it does not count as a delivery.
    mutating func undelivered(_ id: String) {
        if live[id] != nil, live[id]!.record.deliveries > 0 { live[id]!.record.deliveries -= 1 }
    }

    // MARK: Agent updates

    /// `command.ack` from `agentId`. `lookup` finds a command that is not live (terminal or unknown).
    mutating func acknowledge(
        _ id: String,
        from agentId: String,
        now: Date,
        lookup: (String) -> CommandRecord?
    ) -> [Effect] {
        guard var command = live[id] else {
            // Terminal: refused and journalled, no reply. Unknown: nothing.
            guard let stored = lookup(id) else { return [] }
            return [
                agentRefusal(
                    stored,
                    event: "acknowledged",
                    agentId: agentId,
                    why: "command is already \(stored.status.rawValue)"
                )
            ]
        }
        guard command.record.agentId == agentId else {
            return [
                agentRefusal(
                    command.record,
                    event: "acknowledged",
                    agentId: agentId,
                    why: "agent \(agentId) does not own this command"
                )
            ]
        }
        guard command.record.status == .pending else { return [] }
        let previous = command
        command.record.status = .running
        command.record.updatedAt = now
        command.record.startedAt = now
        live[id] = command
        let event = transition(
            command.record,
            from: .pending,
            actor: "agent:\(agentId)",
            reason: "acknowledged by the agent",
            now: now
        )
        return [.change(command.record, previous: previous, event: event, oneTime: nil)]
            + wake(id, record: command.record, from: .pending)
    }

    /// `command.result` from `agentId`, whose encoded body took `bodyBytes`.
    mutating func complete(
        _ result: CommandResult,
        from agentId: String,
        route: Data,
        corr: String,
        bodyBytes: Int,
        now: Date,
        lookup: (String) -> CommandRecord?
    ) -> [Effect] {
        let id = result.commandId
        guard var command = live[id] else {
            if let stored = lookup(id) {
                let why = "command is already \(stored.status.rawValue)"
                guard stored.agentId == agentId else {
                    return [
                        agentRefusal(
                            stored,
                            event: "result",
                            agentId: agentId,
                            why: "agent \(agentId) does not own this command"
                        ),
                        .agentError(
                            route: route,
                            corr: corr,
                            ErrorBody(.unknownCommand, "\(id): not a command of this agent")
                        ),
                    ]
                }
                return [
                    agentRefusal(stored, event: "result", agentId: agentId, why: why),
                    .agentError(route: route, corr: corr, ErrorBody(.commandTerminal, "\(id): \(why)")),
                ]
            }
            return [
                .agentError(
                    route: route,
                    corr: corr,
                    ErrorBody(.unknownCommand, "\(SafeText.clean(id, limit: 64)): unknown command")
                )
            ]
        }
        guard command.record.agentId == agentId else {
            // The same answer as for a command that does not exist: an agent learns nothing of others' commands.
            return [
                agentRefusal(
                    command.record,
                    event: "result",
                    agentId: agentId,
                    why: "agent \(agentId) does not own this command"
                ),
                .agentError(route: route, corr: corr, ErrorBody(.unknownCommand, "\(id): not a command of this agent")),
            ]
        }
        let previous = command
        let from = command.record.status
        var effects: [Effect] = []
        var oneTime: JSONValue?
        if bodyBytes > Self.maxResultBytes {
            command.record.status = .failed
            command.record.success = false
            command.record.errorCode = ErrorBody.Code.resultTooLarge.rawValue
            command.record.errorMessage =
                "the agent's result of \(bodyBytes) bytes exceeds \(Self.maxResultBytes); it was refused"
            effects.append(
                .agentError(
                    route: route,
                    corr: corr,
                    ErrorBody(
                        .oversized,
                        "\(id): result of \(bodyBytes) bytes exceeds \(Self.maxResultBytes); the command is FAILED (result_too_large)"
                    )
                )
            )
        } else {
            command.record.status = result.success ? .succeeded : .failed
            command.record.success = result.success
            command.record.message = result.message.map { SafeText.clean($0, limit: Self.maxMessageBytes) }
            var data = Redactor.redact(result.data)
            if !command.oneTimeFields.isEmpty, case .object(var object)? = data {
                var secret: [String: JSONValue] = [:]
                for field in command.oneTimeFields where object[field] != nil {
                    secret[field] = object[field]
                    object[field] = .string(Self.oneTimePlaceholder)
                }
                if !secret.isEmpty {
                    // Taken from the raw result: the one-time fields are exactly what redaction would hide.
                    if case .object(let raw)? = result.data {
                        for field in secret.keys { secret[field] = raw[field] }
                    }
                    oneTime = .object(secret)
                }
                data = .object(object)
            }
            command.record.data = data
            command.record.errorCode = result.error.map { SafeText.clean($0.code.rawValue, limit: 64) }
            command.record.errorMessage = result.error.map { SafeText.clean($0.message, limit: Self.maxMessageBytes) }
        }
        command.record.updatedAt = now
        command.record.completedAt = now
        remove(id)
        let reason = command.record.errorMessage ?? command.record.message
        let event = transition(command.record, from: from, actor: "agent:\(agentId)", reason: reason, now: now)
        return [.change(command.record, previous: previous, event: event, oneTime: oneTime)] + effects
            + wake(id, record: command.record, from: from)
    }

    // MARK: Operators and time

    /// `command.cancel` by `actor`. A refusal (terminal or unknown command) comes with the effects
    /// that journal it.
    mutating func cancel(
        _ id: String,
        actor: String,
        agent: AgentView,
        now: Date,
        lookup: (String) -> CommandRecord?
    )
        -> (Result<CommandRecord, ErrorBody>, [Effect])
    {
        guard var command = live[id] else {
            guard let stored = lookup(id) else {
                return (.failure(ErrorBody(.notCancellable, "unknown command \(SafeText.clean(id, limit: 64))")), [])
            }
            let why = "command is already \(stored.status.rawValue)"
            return (
                .failure(ErrorBody(.notCancellable, why)),
                [.journal(rejected(stored, event: "cancelled", actor: actor, why: why, now: now))]
            )
        }
        let previous = command
        let from = command.record.status
        command.record.status = .cancelled
        command.record.updatedAt = now
        command.record.completedAt = now
        remove(id)
        var effects: [Effect] = [
            .change(
                command.record,
                previous: previous,
                event: transition(command.record, from: from, actor: actor, reason: "cancelled by \(actor)", now: now),
                oneTime: nil
            )
        ]
        if agent.routable {
            effects.append(
                .cancel(agentId: command.record.agentId, CommandRef(commandId: id, reason: "cancelled by \(actor)"))
            )
        }
        return (.success(command.record), effects + wake(id, record: command.record, from: from))
    }

    /// Expires every live command past `expiresAt`. The reason says what is known: never delivered,
    /// delivered but never acknowledged, or running without a result, so the record never claims a
    /// command expired unseen when the agent may have run it.
    mutating func expire(now: Date, agent: (String) -> AgentView) -> [Effect] {
        let due = live.values.filter { $0.record.expiresAt <= now }.sorted { $0.record.createdAt < $1.record.createdAt }
        var effects: [Effect] = []
        for var command in due {
            let previous = command
            let from = command.record.status
            let reason: String
            switch (from, command.record.deliveries) {
            case (.running, _): reason = "expired while running: no result before expiresAt"
            case (_, 0): reason = "expired before it could be delivered (agent not connected)"
            default: reason = "expired: delivered \(command.record.deliveries) times, never acknowledged"
            }
            command.record.status = .expired
            command.record.updatedAt = now
            command.record.completedAt = now
            remove(command.record.id)
            effects.append(
                .change(
                    command.record,
                    previous: previous,
                    event: transition(command.record, from: from, actor: "system", reason: reason, now: now),
                    oneTime: nil
                )
            )
            if agent(command.record.agentId).routable {
                effects.append(
                    .cancel(
                        agentId: command.record.agentId,
                        CommandRef(commandId: command.record.id, reason: "expired")
                    )
                )
            }
            effects += wake(command.record.id, record: command.record, from: from)
        }
        return effects
    }

    /// Live commands of services that were forgotten end CANCELLED.
    mutating func cancelAll(services codes: Set<String>, actor: String, now: Date) -> [Effect] {
        let ids = live.values.filter { codes.contains($0.record.serviceCode) }.map(\.record.id)
        var effects: [Effect] = []
        for id in ids {
            guard var command = live[id] else { continue }
            let previous = command
            let from = command.record.status
            command.record.status = .cancelled
            command.record.updatedAt = now
            command.record.completedAt = now
            remove(id)
            effects.append(
                .change(
                    command.record,
                    previous: previous,
                    event: transition(command.record, from: from, actor: actor, reason: "service forgotten", now: now),
                    oneTime: nil
                )
            )
            // Sent only if a route is still known when it goes out (a handler that runs stops).
            if command.record.deliveries > 0 {
                effects.append(
                    .cancel(agentId: command.record.agentId, CommandRef(commandId: id, reason: "service forgotten"))
                )
            }
            effects += wake(id, record: command.record, from: from)
        }
        return effects
    }

    // MARK: Waiting

    /// Parks a `command.wait` until the command leaves `after` (or is terminal), or answers now.
    mutating func wait(_ waiter: Waiter, id: String, lookup: (String) -> CommandRecord?) -> Result<[Effect], ErrorBody>
    {
        guard let command = live[id] else {
            guard let stored = lookup(id) else {
                return .failure(ErrorBody(.unknownCommand, "no command with id \(SafeText.clean(id, limit: 64))"))
            }
            return .success([.reply(route: waiter.route, corr: waiter.corr, stored, caller: waiter.caller)])
        }
        if let after = waiter.after, command.record.status != after {
            return .success([.reply(route: waiter.route, corr: waiter.corr, command.record, caller: waiter.caller)])
        }
        waiters[id, default: []].append(waiter)
        return .success([])
    }

    /// Answers waits whose time is up with the record as it is.
    mutating func timeOutWaiters(now: Date) -> [Effect] {
        var effects: [Effect] = []
        for (id, list) in waiters {
            let (due, keep) = (list.filter { $0.deadline <= now }, list.filter { $0.deadline > now })
            guard !due.isEmpty, let record = live[id]?.record else { continue }
            waiters[id] = keep.isEmpty ? nil : keep
            effects += due.map { .reply(route: $0.route, corr: $0.corr, record, caller: $0.caller) }
        }
        return effects
    }

    private mutating func wake(_ id: String, record: CommandRecord, from: CommandStatus) -> [Effect] {
        guard let list = waiters[id] else { return [] }
        let ready = list.filter { record.status.isTerminal || $0.after == from }
        let keep = list.filter { !(record.status.isTerminal || $0.after == from) }
        waiters[id] = keep.isEmpty ? nil : keep
        return ready.map { .reply(route: $0.route, corr: $0.corr, record, caller: $0.caller) }
    }

    // MARK: Events

    private func transition(
        _ record: CommandRecord,
        from: CommandStatus,
        actor: String,
        reason: String?,
        now: Date
    ) -> AuditEvent {
        var details: [String: JSONValue] = [
            "service": .string(record.serviceCode), "action": .string(record.action),
            "agentId": .string(record.agentId),
        ]
        if let data = record.data { details["data"] = data }
        if let code = record.errorCode { details["errorCode"] = .string(code) }
        if let startedAt = record.startedAt { details["startedAt"] = .number(startedAt.timeIntervalSince1970 * 1000) }
        if let completedAt = record.completedAt {
            details["completedAt"] = .number(completedAt.timeIntervalSince1970 * 1000)
        }
        if let duration = record.durationMs { details["durationMs"] = .number(Double(duration)) }
        if record.status.isTerminal { details["deliveries"] = .number(Double(record.deliveries)) }
        return AuditEvent(
            publisher: "broker",
            seq: 0,
            at: now,
            action: "command.\(record.status.rawValue.lowercased())",
            subject: "command:\(record.id)",
            actor: actor,
            result: record.status == .failed || record.status == .expired ? .failure : .success,
            from: from.rawValue,
            to: record.status.rawValue,
            reason: reason,
            details: .object(details)
        )
    }

    private func agentRefusal(_ record: CommandRecord, event: String, agentId: String, why: String) -> Effect {
        .agentRefusal(
            RefusalLedger.Refusal(
                action: "command.rejected",
                subject: "command:\(record.id)",
                actor: "agent:\(agentId)",
                reason: why,
                details: ["event": .string(event)],
                from: record.status.rawValue
            ),
            agentId: agentId
        )
    }

    private func rejected(_ record: CommandRecord, event: String, actor: String, why: String, now: Date) -> AuditEvent {
        AuditEvent(
            publisher: "broker",
            seq: 0,
            at: now,
            action: "command.rejected",
            subject: "command:\(record.id)",
            actor: actor,
            result: .failure,
            from: record.status.rawValue,
            reason: why,
            details: .object(["event": .string(event)])
        )
    }
}
