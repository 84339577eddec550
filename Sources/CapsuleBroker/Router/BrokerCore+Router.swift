import CapsuleDomain
import CapsuleProtocol
import CapsuleRuntime
import CapsuleStore
import CapsuleZMQ
import Foundation
import Logging

extension BrokerCore {
    func drainRouter() {
        var budget = 1_000
        while budget > 0, let message = try? router.receive(maxFrames: 4, maxBytes: configuration.maxMessageBytes) {
            budget -= 1
            handleRouter(message)
        }
    }

    private func handleRouter(_ message: ZMQMessage) {
        let clock = now.timeIntervalSince1970
        guard let route = message.frames.first, !route.isEmpty else { return }
        guard let key = message.userId else {
            sendError(to: route, corr: nil, ErrorBody(.unauthenticated, "no CURVE identity"))
            return
        }
        let principal = principals[key]
        // The rate is checked before anything is decoded; unknown keys also share one budget.
        if principal?.kind != .service {
            let allowed =
                principal == nil
                ? unknownKeyLimiter.allow(key, now: clock) && unknownKeys.allow("*", now: clock)
                : rateLimiter.allow(key, now: clock)
            guard allowed else {
                if let principal {
                    throttled(principal)
                } else {
                    drops.drop("rate_limited", sender: key, detail: "unenrolled key", logger: logger, now: clock)
                }
                return
            }
        }
        let peer = principal?.sender ?? key
        guard !message.oversized else {
            drops.drop("oversized", sender: peer, detail: "\(message.byteCount) bytes", logger: logger, now: clock)
            // The header frame survives, so the sender still learns why (an agent then sends a small
            // FAILED result instead of an oversized one).
            if message.frames.count == 3, let header = try? WireCodec.decodeHeader(message.frames[1]) {
                sendError(
                    to: route,
                    corr: header.id,
                    ErrorBody(
                        .oversized,
                        "\(header.type.rawValue) of \(message.byteCount) bytes exceeds the \(configuration.maxMessageBytes)-byte limit"
                    )
                )
                if header.type == .commandResult, let principal, principal.kind == .agent {
                    // Nothing of the body was read, so the command is not known; the agent reports a small result instead.
                    logger.notice(
                        "Refused an oversized command result.",
                        metadata: ["agent.id": "\(principal.identity)"]
                    )
                }
            }
            return
        }
        let decoded: WireMessage
        do {
            decoded = try WireCodec.decode(Array(message.frames.dropFirst()), hasTopic: false)
        } catch {
            drops.drop(error.code.rawValue, sender: peer, detail: error.detail, logger: logger, now: clock)
            sendError(to: route, corr: nil, ErrorBody(ErrorBody.Code(rawValue: error.code.rawValue), error.detail))
            return
        }
        let corr = decoded.header.id
        switch RouterGate.admit(decoded.header, principal: principal) {
        case .refuse(let error, let cut, let drop):
            drops.drop(drop, sender: peer, detail: decoded.header.type.rawValue, logger: logger, now: clock)
            if cut { self.cut(message, reason: "revoked key") }
            if principal == nil {
                refuse(
                    RefusalLedger.Refusal(
                        action: "peer.refused",
                        subject: "key:\(key)",
                        actor: "key:\(key)",
                        reason: "\(decoded.header.type.rawValue) from a key that is not enrolled"
                    ),
                    key: key
                )
            }
            sendError(to: route, corr: corr, error)
        case .identityMismatch(let claimed):
            guard let principal else { return }
            identityMismatch(claimed: claimed, principal: principal, type: decoded.header.type)
            sendError(
                to: route,
                corr: corr,
                ErrorBody(.identityMismatch, "sender \(SafeText.clean(claimed, limit: 64)) does not match this key")
            )
        case .hello:
            handleHello(decoded, key: key, principal: principal, route: route, connection: message.sourceFD)
        case .agentAck:
            guard let principal, let ack = decodeOrRefuse(CommandRef.self, decoded, route: route, peer: peer) else {
                return
            }
            learnRoute(principal, route, connection: message.sourceFD)
            perform(commands.acknowledge(ack.commandId, from: principal.identity, now: now, lookup: storedCommand))
        case .agentResult:
            guard let principal, let result = decodeOrRefuse(CommandResult.self, decoded, route: route, peer: peer)
            else { return }
            learnRoute(principal, route, connection: message.sourceFD)
            perform(
                commands.complete(
                    result,
                    from: principal.identity,
                    route: route,
                    corr: corr,
                    bodyBytes: decoded.body.count,
                    now: now,
                    lookup: storedCommand
                )
            )
        case .workerReady:
            guard let principal, let ready = decodeOrRefuse(WorkerReady.self, decoded, route: route, peer: peer) else {
                return
            }
            guard ready.service == principal.identity else {
                sendError(
                    to: route,
                    corr: corr,
                    ErrorBody(
                        .identityMismatch,
                        "key of \(principal.identity) cannot serve \(SafeText.clean(ready.service, limit: 64))"
                    )
                )
                return
            }
            if workers[ready.service]?.route != route {
                logger.info(
                    "Worker ready.",
                    metadata: ["worker.service": "\(ready.service)", "worker.version": "\(ready.version ?? "-")"]
                )
            }
            workers[ready.service] = Worker(route: route, ready: ready, lastSeen: now)
        case .workerReply:
            handleWorkerReply(decoded)
        case .reportRequest:
            guard let request = decodeOrRefuse(ReportRequest.self, decoded, route: route, peer: peer) else { return }
            sendToAgent(request.agentId, type: .reportRequest, body: request)
        case .request:
            guard let principal else { return }
            handleRequest(decoded, principal: principal, route: route)
        }
    }

    /// Decodes a body, or answers `malformed_body` and returns nil.
    private func decodeOrRefuse<T: Decodable>(_ type: T.Type, _ message: WireMessage, route: Data, peer: String) -> T? {
        do {
            return try message.decode(T.self)
        } catch {
            drops.drop(
                error.code.rawValue,
                sender: peer,
                detail: error.detail,
                logger: logger,
                now: now.timeIntervalSince1970
            )
            sendError(to: route, corr: message.header.id, ErrorBody(.malformedBody, error.detail))
            return nil
        }
    }

    /// A route is learned only from a message that passed the key check.
    private func learnRoute(_ principal: Principal, _ route: Data, connection: Int32) {
        guard principal.kind == .agent else { return }
        if agentRoutes[principal.identity] != route { agentRoutes[principal.identity] = route }
        if connection >= 0 { agentByConnection[connection] = principal.identity }
    }

    /// A command that is no longer live, from the store.
    func storedCommand(_ id: String) -> CommandRecord? {
        guard id.utf8.count <= 64 else { return nil }
        return try? store.command(id: id)
    }

    // MARK: Agents

    private func handleHello(_ message: WireMessage, key: String, principal: Principal?, route: Data, connection: Int32)
    {
        let corr = message.header.id
        let hello: AgentHello
        do {
            hello = try message.decode(AgentHello.self)
        } catch {
            sendError(to: route, corr: corr, ErrorBody(.malformedBody, error.detail))
            return
        }
        guard let principal else {
            enroll(hello, key: key, route: route, corr: corr, connection: connection)
            return
        }
        if let refusal = RouterGate.welcome(hello, principal: principal, enrolledCode: agentCodes[principal.identity]) {
            sendError(to: route, corr: corr, refusal)
            return
        }
        welcome(agentId: principal.identity, route: route, corr: corr, connection: connection)
    }

    /// Welcomes an agent on `route`, then pushes its live commands.
    func welcome(agentId: String, route: Data, corr: String, connection: Int32) {
        agentRoutes[agentId] = route
        if connection >= 0 { agentByConnection[connection] = agentId }
        sendRouted(
            to: route,
            header: factory.plain(.agentWelcome, corr: corr),
            body: AgentWelcome(agentId: agentId, heartbeatSeconds: settings.heartbeatSeconds)
        )
        perform(commands.agentReady(agentId, agent: agentView(agentId), now: now))
    }

    // MARK: Requests (Majordomo-style)

    private func handleRequest(_ message: WireMessage, principal: Principal, route: Data) {
        let corr = message.header.id
        let head: RequestHead
        do {
            head = try message.decode(RequestHead.self)
        } catch {
            sendReply(to: route, corr: corr, error: ErrorBody(.badRequest, "request body: \(error.detail)"))
            return
        }
        if let refusal = OperationPolicy.check(principal.caller, service: head.service, op: head.op) {
            if refusal.code == .forbidden {
                refuse(
                    RefusalLedger.Refusal(
                        action: "operator.denied",
                        subject: "\(head.service):\(SafeText.clean(head.op, limit: 64))",
                        actor: principal.auditName,
                        reason: refusal.message
                    ),
                    key: principal.publicKey
                )
            }
            sendReply(to: route, corr: corr, error: refusal)
            return
        }
        if head.service == "broker" {
            answer(head.op, message, principal: principal, route: route)
            return
        }
        guard let worker = workers[head.service] else {
            sendReply(
                to: route,
                corr: corr,
                error: ErrorBody(.serviceUnavailable, "\(head.service) is not connected to the broker")
            )
            return
        }
        // The body goes on unchanged; the caller travels in the forwarded header.
        let forwardId = MessageID.next()
        var timeout = configuration.requestTimeoutSeconds
        if head.op == AuditOps.Query.name { timeout += AuditFilter.maxWaitSeconds }
        pendingRequests[forwardId] = PendingRequest(
            client: route,
            originalId: corr,
            deadline: now.addingTimeInterval(timeout)
        )
        var header = factory.plain(.request, id: forwardId)
        header.caller = principal.sender
        let sent = (try? router.send([worker.route, WireCodec.json(header), message.body])) ?? false
        if !sent {
            pendingRequests[forwardId] = nil
            workers[head.service] = nil
            sendReply(
                to: route,
                corr: corr,
                error: ErrorBody(.serviceUnavailable, "\(head.service) is not connected to the broker")
            )
        }
    }

    private func handleWorkerReply(_ message: WireMessage) {
        guard let corr = message.header.corr, let pending = pendingRequests.removeValue(forKey: corr) else { return }
        let header = factory.plain(.reply, corr: pending.originalId)
        _ = try? router.send([pending.client] + [WireCodec.json(header), message.body])
    }
}
