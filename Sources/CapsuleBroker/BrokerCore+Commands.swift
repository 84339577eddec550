import CapsuleCrypto
import CapsuleDomain
import CapsuleProtocol
import CapsuleRuntime
import CapsuleStore
import CapsuleZMQ
import Foundation
import Logging

extension BrokerCore {
    func handleBrokerRequest(_ request: Request, header: Header, principal: Principal, route: Data) {
        let params = request.params
        do {
            let result: any Encodable
            switch request.op {
            case "command.create":
                result = try createCommand(params: params, actor: principal.sender)
            case "command.get":
                guard let id = params["id"]?.stringValue, let command = try store.command(id: id) else {
                    throw ErrorBody(code: "unknown_command", message: "no command with id \(params["id"]?.stringValue ?? "")")
                }
                result = command
            case "command.list":
                let status = params["status"]?.stringValue.flatMap { CommandStatus(rawValue: $0.uppercased()) }
                let limit = max(1, min(10_000, params["limit"]?.intValue ?? 100))
                result = try store.commands(limit: limit, status: status)
            case "command.cancel":
                guard let id = params["id"]?.stringValue else { throw ErrorBody(code: "bad_request", message: "command.cancel needs an id") }
                result = try cancelCommand(id: id, actor: principal.sender)
            case "journal.replay":
                result = try store.journalEvents(after: UInt64(max(0, params["after"]?.intValue ?? 0)), limit: 1_000)
            case "journal.ack":
                if let upTo = params["upTo"]?.intValue, principal.kind == .service, principal.identity == "audit" {
                    try store.pruneJournal(upTo: UInt64(max(0, upTo)))
                }
                result = JSONValue.object([:])
            case "broker.stats":
                result = JSONValue.object([
                    "forwarded": .number(Double(forwarded)), "dropped": .object(drops.counts.mapValues { .number(Double($0)) }),
                    "agentsConnected": .number(Double(agentRoutes.count)),
                    "workers": .array(workerRoutes.keys.sorted().map(JSONValue.string)),
                ])
            default:
                guard let answer = try handleTrustRequest(request, principal: principal) else {
                    throw ErrorBody(code: "unknown_op", message: "the broker has no operation \(request.op)")
                }
                result = answer
            }
            sendReply(to: route, corr: header.id, result: result)
        } catch let error as StoreError {
            sendReply(to: route, corr: header.id, error: ErrorBody(code: error.code.rawValue, message: error.message))
        } catch let error as ErrorBody {
            sendReply(to: route, corr: header.id, error: error)
        } catch {
            logger.error("Request failed.", metadata: ["request.op": "\(request.op)", "error": "\(error)"])
            sendReply(to: route, corr: header.id, error: ErrorBody(code: "internal", message: "\(error)"))
        }
    }

    // MARK: Lifecycle

    /// Validates an operator's request against the service's declared action and creates the command.
    private func createCommand(params: JSONValue, actor: String) throws -> CommandRecord {
        guard let code = params["service"]?.stringValue, let actionName = params["action"]?.stringValue else {
            throw ErrorBody(code: "bad_request", message: "command.create needs service and action")
        }
        guard let service = services[code] else {
            let known = services.keys.sorted().joined(separator: ", ")
            throw ErrorBody(code: "unknown_service", message: "no service named \(code)" + (known.isEmpty ? "" : " (known: \(known))"))
        }
        guard let action = service.manifest.action(named: actionName) else {
            let names = service.manifest.actions.map(\.name).joined(separator: ", ")
            throw ErrorBody(code: "unknown_action", message: "service \(code) has no action \(actionName) (actions: \(names.isEmpty ? "none" : names))")
        }
        if action.requiresConfirmation && params["confirm"] != .bool(true) {
            throw ErrorBody(code: "confirmation_required", message: "action \(actionName) on \(code) is \(action.dangerLevel.rawValue) and requires --confirm")
        }
        let payload = params["payload"] ?? .object([:])
        if let schema = action.inputSchema {
            do {
                try JSONSchemaValidator.validate(payload, against: schema)
            } catch {
                throw ErrorBody(code: "invalid_payload", message: "payload fails the input schema of \(actionName): \(error)")
            }
        }
        let created = now
        let ttl = action.timeoutSeconds.map(Double.init) ?? configuration.commandTTLSeconds
        let command = CommandRecord(
            id: "cmd_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(16).lowercased(),
            serviceCode: code, agentId: service.agentId, action: actionName, payload: payload, status: .pending,
            actor: actor, createdAt: created, updatedAt: created, expiresAt: created.addingTimeInterval(ttl)
        )
        // Persisted before it is acknowledged to the operator or sent to the agent. The store keeps the
        // payload redacted, and the raw one only sealed (payload.key) until the command ends; the
        // operator is answered with what was persisted.
        publish(try store.create(command, sealedPayload: payloadBox.seal(WireCodec.json(payload))))
        guard let stored = try store.command(id: command.id) else {
            throw ErrorBody(code: "internal", message: "command \(command.id) was not stored")
        }
        dispatch(stored)
        return stored
    }

    private func cancelCommand(id: String, actor: String) throws -> CommandRecord {
        switch try store.apply(.cancelled, to: id, actor: actor, reason: "cancelled by \(actor)", now: now) {
        case .moved(let command, let event):
            publish(event)
            if let route = agentRoutes[command.agentId] {
                sendRouted(to: route, header: factory.plain(.commandCancel), body: CommandRef(commandId: id, reason: "cancelled by \(actor)"))
            }
            return command
        case .unchanged(let command):
            return command
        case .rejected(_, let why, let event):
            if let event { publish(event) }
            throw ErrorBody(code: "not_cancellable", message: why)
        }
    }

    /// Pushes a command to its agent now, if connected; otherwise it waits for the agent's hello.
    func dispatch(_ command: CommandRecord) {
        guard let route = agentRoutes[command.agentId] else { return }
        let raw = (try? store.sealedPayload(id: command.id)).flatMap { $0 }.flatMap { payloadBox.open($0) }
            .flatMap { try? WireCodec.fromJSON(JSONValue.self, $0) }
        let body = CommandDispatch(commandId: command.id, serviceCode: command.serviceCode, action: command.action,
                                   payload: raw ?? command.payload, expiresAt: command.expiresAt)
        if sendRouted(to: route, header: factory.plain(.commandDispatch), body: body) {
            try? store.markDelivered(id: command.id)
        } else {
            agentRoutes[command.agentId] = nil
        }
    }

    func deliverLiveCommands(agentId: String) {
        guard let live = try? store.liveCommands(agentId: agentId) else { return }
        let current = now
        for command in live where command.expiresAt > current { dispatch(command) }
    }

    func handleAck(_ ack: CommandRef, agentId: String) {
        applyFromAgent(.acknowledged, id: ack.commandId, agentId: agentId, result: nil, route: nil)
    }

    func handleResult(_ result: CommandResult, agentId: String, route: Data, corr: String) {
        applyFromAgent(result.success ? .succeeded : .failed, id: result.commandId, agentId: agentId, result: result, route: route, corr: corr)
    }

    private func applyFromAgent(_ event: CommandEvent, id: String, agentId: String, result: CommandResult?, route: Data?, corr: String? = nil) {
        do {
            if let command = try store.command(id: id), command.agentId != agentId {
                let at = now
                record { seq in
                    AuditEvent(publisher: "broker", seq: seq, at: at, action: "command.rejected", subject: "command:\(id)",
                               actor: "agent:\(agentId)", result: .failure, reason: "agent \(agentId) does not own this command")
                }
                return
            }
            switch try store.apply(event, to: id, result: result, actor: "agent:\(agentId)", now: now) {
            case .moved(_, let audit):
                publish(audit)
            case .unchanged:
                break
            case .rejected(let command, let why, let audit):
                if let audit { publish(audit) }
                logger.notice("Rejected a command update.", metadata: ["command.id": "\(id)", "reason": "\(why)"])
                if let route {
                    sendError(to: route, corr: corr, code: command == nil ? "unknown_command" : "command_terminal", message: "\(id): \(why)")
                }
            }
        } catch {
            logger.error("Could not apply a command update.", metadata: ["command.id": "\(id)", "error": "\(error)"])
        }
    }

    func expireCommands(now current: Date) {
        guard let due = try? store.dueForExpiry(now: current) else { return }
        for command in due {
            guard case .moved(_, let audit) = try? store.apply(.expired, to: command.id, actor: "system", reason: "expired before a result arrived", now: current) else {
                continue
            }
            publish(audit)
            if let route = agentRoutes[command.agentId] {
                sendRouted(to: route, header: factory.plain(.commandCancel), body: CommandRef(commandId: command.id, reason: "expired"))
            }
        }
    }
}
