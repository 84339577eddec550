import CapsuleDomain
import CapsuleProtocol
import CapsuleRuntime
import CapsuleStore
import CapsuleZMQ
import Foundation
import Glibc
import Logging

extension BrokerCore {
    /// Checks every report on ingest against the key it arrived on, then forwards it to the bus.
    func drainIngest() {
        var budget = 1_000  // Yield to the other sockets now and then.
        while budget > 0, let message = try? ingest.receive(maxFrames: 4, maxBytes: configuration.maxMessageBytes) {
            budget -= 1
            handleIngest(message)
        }
    }

    private func handleIngest(_ message: ZMQMessage) {
        let peer = message.userId.flatMap { principals[$0]?.sender } ?? message.userId ?? "unknown"
        let clock = now.timeIntervalSince1970
        if message.oversized {
            drops.drop("oversized", sender: peer, detail: "\(message.byteCount) bytes", logger: logger, now: clock)
            return
        }
        let decoded: WireMessage
        do {
            decoded = try WireCodec.decode(message.frames, hasTopic: true)
        } catch {
            drops.drop(error.code.rawValue, sender: peer, detail: error.detail, logger: logger, now: clock)
            return
        }
        guard let key = message.userId, let principal = principals[key], principal.state == .active else {
            drops.drop("unauthorised", sender: peer, detail: "key not enrolled or not active", logger: logger, now: clock)
            if let key = message.userId, principals[key]?.state == .revoked { cut(message, reason: "revoked key") }
            return
        }
        guard principal.kind == .service || rateLimiter.allow(key, now: clock) else {
            throttled(principal, clock: clock)
            return
        }
        guard decoded.header.sender == principal.sender else {
            identityMismatch(claimed: decoded.header.sender, principal: principal, type: decoded.header.type)
            return
        }
        let allowed: Set<MessageType> = principal.kind == .agent ? [.heartbeat, .health, .serviceReport] : [.event, .beacon]
        guard allowed.contains(decoded.header.type) else {
            drops.drop("not_allowed", sender: peer, detail: "\(decoded.header.type.rawValue) on ingest", logger: logger, now: clock)
            return
        }
        var action: String?
        do {
            switch decoded.header.type {
            case .heartbeat:
                let body = try decoded.decode(Heartbeat.self)
                guard body.agentId == principal.identity else { return identityMismatch(claimed: body.agentId, principal: principal, type: .heartbeat) }
                guard ownsAll(body.services.map(\.code), principal: principal) else { return }
            case .health:
                let body = try decoded.decode(HealthUpdate.self)
                guard body.agentId == principal.identity else { return identityMismatch(claimed: body.agentId, principal: principal, type: .health) }
                guard ownsAll(body.services.map(\.code), principal: principal) else { return }
            case .serviceReport:
                let body = try decoded.decode(ServiceReport.self)
                guard body.agentId == principal.identity else {
                    return identityMismatch(claimed: body.agentId, principal: principal, type: .serviceReport)
                }
                // A report that claims another agent's service is refused whole, never forwarded.
                guard acceptReport(body, from: principal) else { return }
            case .event:
                action = try decoded.decode(AuditEvent.self).action
            default:
                break
            }
        } catch {
            drops.drop(error.code.rawValue, sender: peer, detail: error.detail, logger: logger, now: clock)
            return
        }
        let expected = Topic.expected(for: decoded.header.type, sender: principal.sender, action: action)
        guard decoded.topic == expected else {
            drops.drop("topic_mismatch", sender: peer, detail: "topic \(decoded.topic ?? "") for \(decoded.header.type.rawValue)", logger: logger, now: clock)
            return
        }
        do {
            _ = try bus.send(message.frames)
            forwarded += 1
        } catch {
            drops.drop("bus_full", sender: peer, detail: "\(error)", logger: logger, now: clock)
        }
    }

    /// Whether every service code belongs to this agent (or to nobody yet). A message naming another
    /// agent's service is dropped and audited.
    private func ownsAll(_ codes: [String], principal: Principal) -> Bool {
        for code in codes {
            if let owner = services[code]?.agentId, owner != principal.identity {
                drops.drop("service_owned", sender: principal.sender, detail: "service \(code) is owned by \(owner)", logger: logger,
                           now: now.timeIntervalSince1970)
                auditRefusal(agentId: principal.identity, reason: "service \(code) is owned by agent \(owner)")
                return false
            }
        }
        return true
    }

    private func auditRefusal(agentId: String, reason: String) {
        let key = "\(agentId)|\(reason)"
        let current = now
        if let last = lastRefusalAudit[key], current.timeIntervalSince(last) < 60 { return }
        lastRefusalAudit[key] = current
        record { seq in
            AuditEvent(publisher: "broker", seq: seq, at: current, action: "service.claim_refused", subject: "agent:\(agentId)",
                       actor: "agent:\(agentId)", result: .failure, reason: reason)
        }
    }

    private func acceptReport(_ report: ServiceReport, from principal: Principal) -> Bool {
        do {
            let refused = try store.claimServices(agentId: principal.identity, manifests: report.services, now: now)
            if refused.isEmpty {
                for manifest in report.services {
                    services[manifest.code] = BrokerStore.ServiceRecord(code: manifest.code, agentId: principal.identity, manifest: manifest.sanitized)
                }
                return true
            }
            for reason in refused {
                logger.warning("Refused a service claim.", metadata: ["agent.id": "\(principal.identity)", "reason": "\(reason)"])
                auditRefusal(agentId: principal.identity, reason: reason)
            }
            return false
        } catch {
            logger.error("Could not store a service report.", metadata: ["agent.id": "\(principal.identity)", "error": "\(error)"])
            return false
        }
    }

    /// Cuts the connection a message arrived on, so the peer must reconnect and face ZAP again.
    /// The descriptor comes from this very message, so it still belongs to this peer.
    func cut(_ message: ZMQMessage, reason: String) {
        guard message.sourceFD >= 0 else { return }
        _ = Glibc.shutdown(message.sourceFD, Int32(SHUT_RDWR))
        logger.notice("Cut a connection.", metadata: ["reason": "\(reason)", "peer.key": "\(message.userId ?? "-")"])
    }

    /// A peer over its message rate: dropped, counted, and audited at most once a minute.
    func throttled(_ principal: Principal, clock: Double) {
        drops.drop("rate_limited", sender: principal.sender, detail: "over \(configuration.maxMessagesPerSecond) msgs/s", logger: logger, now: clock)
        let key = "throttle|\(principal.publicKey)"
        let current = now
        if let last = lastRefusalAudit[key], current.timeIntervalSince(last) < 60 { return }
        lastRefusalAudit[key] = current
        let sender = principal.sender
        let limit = configuration.maxMessagesPerSecond
        record { seq in
            AuditEvent(publisher: "broker", seq: seq, at: current, action: "peer.throttled", subject: sender, actor: sender,
                       result: .failure, reason: "over \(limit) messages per second; excess dropped")
        }
    }

    /// A message that claims another identity than its key: dropped and audited (design §5).
    func identityMismatch(claimed: String, principal: Principal, type: MessageType) {
        drops.drop("identity_mismatch", sender: principal.sender, detail: "claimed \(claimed)", logger: logger, now: now.timeIntervalSince1970)
        let real = principal.sender
        let at = now
        record { seq in
            AuditEvent(
                publisher: "broker", seq: seq, at: at, action: "agent_token.rejected", subject: "agent:\(real)",
                actor: real, result: .failure, reason: "message claims identity \(claimed) but arrived on the key of \(real)",
                details: .object(["claimed": .string(claimed), "actual": .string(real), "messageType": .string(type.rawValue)])
            )
        }
    }
}
