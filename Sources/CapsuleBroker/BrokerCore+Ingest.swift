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
        guard let key = message.userId, let principal = principals[key], principal.state == .active else {
            drops.drop("unauthorised", sender: peer, detail: "key not enrolled or not active", logger: logger, now: clock)
            if let key = message.userId, principals[key]?.state == .revoked { cut(message, reason: "revoked key") }
            return
        }
        guard principal.kind == .service || rateLimiter.allow(key, now: clock) else {
            throttled(principal, clock: clock)
            return
        }
        switch IngestGate.check(frames: message.frames, principal: principal, owner: { services[$0]?.agentId }) {
        case .drop(let reason, let detail):
            drops.drop(reason, sender: peer, detail: detail, logger: logger, now: clock)
        case .identityMismatch(let claimed, let type):
            identityMismatch(claimed: claimed, principal: principal, type: type)
        case .serviceOwned(let code, let owner):
            drops.drop("service_owned", sender: peer, detail: "service \(code) is owned by \(owner)", logger: logger, now: clock)
            auditRefusal(agentId: principal.identity, reason: "service \(code) is owned by agent \(owner)")
        case .forward(_, let report):
            // A report that claims another agent's service is refused whole, never forwarded.
            if let report, !acceptReport(report, from: principal) { return }
            do {
                _ = try bus.send(message.frames)
                forwarded += 1
            } catch {
                drops.drop("bus_full", sender: peer, detail: "\(error)", logger: logger, now: clock)
            }
        }
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
                for manifest in report.services where services[manifest.code]?.manifest != manifest.sanitized {
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
