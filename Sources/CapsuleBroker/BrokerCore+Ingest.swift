import CapsuleDomain
import CapsuleProtocol
import CapsuleRuntime
import CapsuleStore
import CapsuleZMQ
import Foundation
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
            case .health:
                let body = try decoded.decode(HealthUpdate.self)
                guard body.agentId == principal.identity else { return identityMismatch(claimed: body.agentId, principal: principal, type: .health) }
            case .serviceReport:
                let body = try decoded.decode(ServiceReport.self)
                guard body.agentId == principal.identity else {
                    return identityMismatch(claimed: body.agentId, principal: principal, type: .serviceReport)
                }
                acceptReport(body, from: principal)
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

    private func acceptReport(_ report: ServiceReport, from principal: Principal) {
        do {
            let refused = try store.claimServices(agentId: principal.identity, manifests: report.services, now: now)
            for manifest in report.services where !refused.contains(where: { $0.hasPrefix("service \(manifest.code) ") }) {
                services[manifest.code] = BrokerStore.ServiceRecord(code: manifest.code, agentId: principal.identity, manifest: manifest.sanitized)
            }
            for reason in refused {
                logger.warning("Refused a service claim.", metadata: ["agent.id": "\(principal.identity)", "reason": "\(reason)"])
                let agentId = principal.identity
                let at = now
                record { seq in
                    AuditEvent(publisher: "broker", seq: seq, at: at, action: "service.claim_refused", subject: "agent:\(agentId)",
                               actor: "agent:\(agentId)", result: .failure, reason: reason)
                }
            }
        } catch {
            logger.error("Could not store a service report.", metadata: ["agent.id": "\(principal.identity)", "error": "\(error)"])
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
