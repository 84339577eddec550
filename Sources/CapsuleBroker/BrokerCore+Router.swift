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
        let peer = message.userId.flatMap { principals[$0]?.sender } ?? message.userId ?? "unknown"
        let clock = now.timeIntervalSince1970
        guard let route = message.frames.first, !message.oversized else {
            drops.drop("oversized", sender: peer, detail: "\(message.byteCount) bytes", logger: logger, now: clock)
            return
        }
        let decoded: WireMessage
        do {
            decoded = try WireCodec.decode(Array(message.frames.dropFirst()), hasTopic: false)
        } catch {
            drops.drop(error.code.rawValue, sender: peer, detail: error.detail, logger: logger, now: clock)
            sendError(to: route, corr: nil, code: error.code.rawValue, message: error.detail)
            return
        }
        guard let key = message.userId else {
            sendError(to: route, corr: decoded.header.id, code: "unauthenticated", message: "no CURVE identity")
            return
        }
        let principal = principals[key]
        guard principal?.kind == .service || rateLimiter.allow(key, now: clock) else {
            if let principal {
                throttled(principal, clock: clock)
            } else {
                drops.drop("rate_limited", sender: peer, detail: "unenrolled key", logger: logger, now: clock)
            }
            return
        }
        if decoded.header.type == .agentHello {
            return handleHello(decoded, key: key, principal: principal, route: route)
        }
        guard let principal else {
            drops.drop("unauthorised", sender: peer, detail: decoded.header.type.rawValue, logger: logger, now: clock)
            sendError(to: route, corr: decoded.header.id, code: "not_enrolled",
                      message: "this key is not enrolled; enrol an agent or ask an owner to add this operator key")
            return
        }
        guard principal.state == .active else {
            drops.drop("inactive", sender: peer, detail: principal.state.rawValue, logger: logger, now: clock)
            if principal.state == .revoked { cut(message, reason: "revoked key") }
            sendError(to: route, corr: decoded.header.id, code: "key_\(principal.state.rawValue.lowercased())",
                      message: "this key is \(principal.state.rawValue.lowercased())")
            return
        }
        guard decoded.header.sender == principal.sender else {
            identityMismatch(claimed: decoded.header.sender, principal: principal, type: decoded.header.type)
            sendError(to: route, corr: decoded.header.id, code: "identity_mismatch",
                      message: "sender \(decoded.header.sender) does not match this key")
            return
        }
        do {
            switch (decoded.header.type, principal.kind) {
            case (.commandAck, .agent):
                agentRoutes[principal.identity] = route
                handleAck(try decoded.decode(CommandRef.self), agentId: principal.identity)
            case (.commandResult, .agent):
                agentRoutes[principal.identity] = route
                handleResult(try decoded.decode(CommandResult.self), agentId: principal.identity, route: route, corr: decoded.header.id)
            case (.workerReady, .service):
                let ready = try decoded.decode(WorkerReady.self)
                guard ready.service == principal.identity else {
                    sendError(to: route, corr: decoded.header.id, code: "identity_mismatch",
                              message: "key of \(principal.identity) cannot serve \(ready.service)")
                    return
                }
                if workerRoutes[ready.service] != route {
                    logger.info("Worker ready.", metadata: ["worker.service": "\(ready.service)"])
                }
                workerRoutes[ready.service] = route
            case (.reply, .service):
                handleWorkerReply(decoded)
            case (.reportRequest, .service):
                let request = try decoded.decode(ReportRequest.self)
                if let agentRoute = agentRoutes[request.agentId] {
                    sendRouted(to: agentRoute, header: factory.plain(.reportRequest), body: request)
                }
            case (.request, .operator), (.request, .service):
                handleRequest(try decoded.decode(Request.self), header: decoded.header, principal: principal, route: route)
            default:
                drops.drop("not_allowed", sender: peer, detail: "\(decoded.header.type.rawValue) from \(principal.kind.rawValue)", logger: logger, now: clock)
                sendError(to: route, corr: decoded.header.id, code: "not_allowed",
                          message: "\(decoded.header.type.rawValue) is not accepted from a \(principal.kind.rawValue)")
            }
        } catch {
            drops.drop(error.code.rawValue, sender: peer, detail: error.detail, logger: logger, now: clock)
            sendError(to: route, corr: decoded.header.id, code: error.code.rawValue, message: error.detail)
        }
    }

    // MARK: Agents

    private func handleHello(_ message: WireMessage, key: String, principal: Principal?, route: Data) {
        let hello: AgentHello
        do {
            hello = try message.decode(AgentHello.self)
        } catch {
            sendError(to: route, corr: message.header.id, code: error.code.rawValue, message: error.detail)
            return
        }
        var agentId: String
        if let principal {
            guard principal.kind == .agent else {
                sendError(to: route, corr: message.header.id, code: "not_an_agent", message: "this key belongs to a \(principal.kind.rawValue)")
                return
            }
            guard principal.state == .active else {
                sendError(to: route, corr: message.header.id, code: "agent_\(principal.state.rawValue.lowercased())",
                          message: "agent \(principal.identity) is \(principal.state.rawValue.lowercased())")
                return
            }
            let enrolledCode = (try? store.agent(id: principal.identity))?.code
            guard enrolledCode == hello.agentCode else {
                sendError(to: route, corr: message.header.id, code: "agent_code_mismatch",
                          message: "this key is enrolled as agent \(principal.identity) with code \(enrolledCode ?? "?"), not \(hello.agentCode)")
                return
            }
            agentId = principal.identity
        } else {
            guard let enrolled = enroll(hello, key: key, route: route, corr: message.header.id) else { return }
            agentId = enrolled
        }
        agentRoutes[agentId] = route
        sendRouted(
            to: route,
            header: factory.plain(.agentWelcome, corr: message.header.id),
            body: AgentWelcome(agentId: agentId, heartbeatSeconds: configuration.thresholds.heartbeatSeconds)
        )
        deliverLiveCommands(agentId: agentId)
    }

    // MARK: Requests (Majordomo-style)

    private func handleRequest(_ request: Request, header: Header, principal: Principal, route: Data) {
        let needed = BrokerPolicy.requiredRole(service: request.service, op: request.op)
        if principal.kind == .operator {
            let role = principal.role ?? .viewer
            guard role >= needed else {
                let actor = principal.sender
                let at = now
                record { seq in
                    AuditEvent(publisher: "broker", seq: seq, at: at, action: "operator.denied", subject: "\(request.service):\(request.op)",
                               actor: actor, result: .failure, reason: "needs role \(needed.rawValue), has \(role.rawValue)")
                }
                sendReply(to: route, corr: header.id, error: ErrorBody(
                    code: "forbidden", message: "\(request.op) needs the \(needed.rawValue) role; this key has \(role.rawValue)"))
                return
            }
        }
        if request.service == "broker" {
            return handleBrokerRequest(request, header: header, principal: principal, route: route)
        }
        guard let worker = workerRoutes[request.service] else {
            sendReply(to: route, corr: header.id, error: ErrorBody(
                code: "service_unavailable", message: "\(request.service) is not connected to the broker"))
            return
        }
        var forwarded = request
        forwarded.caller = principal.sender
        let forwardId = UUID().uuidString
        pendingRequests[forwardId] = PendingRequest(
            client: route, originalId: header.id, deadline: now.addingTimeInterval(configuration.requestTimeoutSeconds))
        if !sendRouted(to: worker, header: factory.plain(.request, id: forwardId), body: forwarded) {
            pendingRequests[forwardId] = nil
            workerRoutes[request.service] = nil
            sendReply(to: route, corr: header.id, error: ErrorBody(
                code: "service_unavailable", message: "\(request.service) is not connected to the broker"))
        }
    }

    private func handleWorkerReply(_ message: WireMessage) {
        guard let corr = message.header.corr, let pending = pendingRequests.removeValue(forKey: corr) else { return }
        var header = factory.plain(.reply, corr: pending.originalId)
        header.sender = "broker"
        _ = try? router.send([pending.client] + [WireCodec.json(header), message.body])
    }
}
