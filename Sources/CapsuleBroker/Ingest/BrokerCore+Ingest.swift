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
        let clock = now
        // Identity and rate first, before any byte of the body is decoded.
        guard let key = message.userId, let principal = principals[key], principal.state == .active else {
            let peer = message.userId.flatMap { principals[$0]?.sender } ?? message.userId ?? "unknown"
            drops.drop(
                "unauthorised",
                sender: peer,
                detail: "key not enrolled or not active",
                logger: logger,
                now: clock.timeIntervalSince1970
            )
            if let key = message.userId, principals[key]?.state == .revoked { cut(message, reason: "revoked key") }
            return
        }
        guard principal.kind == .service || rateLimiter.allow(key, now: clock.timeIntervalSince1970) else {
            throttled(principal)
            return
        }
        if message.oversized {
            drops.drop(
                "oversized",
                sender: principal.sender,
                detail: "\(message.byteCount) bytes",
                logger: logger,
                now: clock.timeIntervalSince1970
            )
            return
        }
        switch IngestGate.check(frames: message.frames, principal: principal) {
        case .drop(let reason, let detail):
            drops.drop(
                reason,
                sender: principal.sender,
                detail: detail,
                logger: logger,
                now: clock.timeIntervalSince1970
            )
        case .identityMismatch(let claimed, let type):
            identityMismatch(claimed: claimed, principal: principal, type: type)
        case .refuseReport(let code, let reason):
            drops.drop(
                code.rawValue,
                sender: principal.sender,
                detail: reason,
                logger: logger,
                now: clock.timeIntervalSince1970
            )
            refuse(
                RefusalLedger.Refusal(
                    action: "service.claim_refused",
                    subject: principal.auditName,
                    actor: principal.auditName,
                    reason: reason,
                    details: ["code": .string(code.rawValue)]
                ),
                key: key
            )
        case .forward(let type, let report):
            if type == .heartbeat {
                presence.heartbeat(principal.identity, at: clock)
                metrics.heartbeat()
            }
            if let report {
                // A report is forwarded only once its claims are stored, and refused whole otherwise.
                acceptReport(report, frames: message.frames, from: principal)
            } else {
                forward(message.frames, sender: principal.sender)
            }
        }
    }

    private func forward(_ frames: [Data], sender: String) {
        do {
            _ = try bus.send(frames)
            forwarded += 1
            metrics.forwardedOne()
        } catch {
            drops.drop("bus_full", sender: sender, detail: "\(error)", logger: logger, now: now.timeIntervalSince1970)
        }
    }

    /// Claims the reported services in the store (this turn's batch), journals `service.reported`
    /// for each manifest that changed, and forwards the report once committed.
    private func acceptReport(_ report: ServiceReport, frames: [Data], from principal: Principal) {
        let agentId = principal.identity
        let manifests = report.services.map(\.sanitized)
        let changed = manifests.filter { services[$0.code]?.manifest != $0 }
        guard !changed.isEmpty || manifests.contains(where: { services[$0.code]?.agentId != agentId }) else {
            forward(frames, sender: principal.sender)
            return
        }
        let at = now
        let journal = self.journal
        batch.add(
            { db -> (refused: [String], events: [AuditEvent]) in
                let refused = try BrokerStore.claimServices(db, agentId: agentId, manifests: manifests, now: at)
                guard refused.isEmpty else { return (refused, []) }
                let events = try changed.map { manifest in
                    try journal.append(
                        db,
                        AuditEvent(
                            publisher: "broker",
                            seq: 0,
                            at: at,
                            action: "service.reported",
                            subject: "service:\(manifest.code)",
                            actor: principal.auditName,
                            reason: "\(manifest.name) \(manifest.version) (\(manifest.runtime))",
                            details: .object([
                                "agentId": .string(agentId), "version": .string(manifest.version),
                                "actions": .array(manifest.actions.prefix(64).map { .string($0.name) }),
                                "configs": .array(manifest.configs.prefix(64).map { .string($0.key) }),
                                "digest": .string(ManifestDigest.of([manifest])),
                            ])
                        )
                    )
                }
                return ([], events)
            },
            done: { [unowned self] outcome in
                switch outcome {
                case .success(let result) where result.refused.isEmpty:
                    for manifest in manifests {
                        services[manifest.code] = BrokerStore.ServiceRecord(
                            code: manifest.code,
                            agentId: agentId,
                            manifest: manifest
                        )
                    }
                    result.events.forEach(publish)
                    forward(frames, sender: principal.sender)
                case .success(let result):
                    for reason in result.refused {
                        refuse(
                            RefusalLedger.Refusal(
                                action: "service.claim_refused",
                                subject: principal.auditName,
                                actor: principal.auditName,
                                reason: reason
                            ),
                            key: principal.publicKey
                        )
                    }
                case .failure(let error):
                    storeFailed(error, what: "store a service report")
                }
            }
        )
    }

    /// Cuts the connection a message arrived on, so the peer must reconnect and face ZAP again.
    /// The descriptor comes from this very message, so it still belongs to this peer.
    func cut(_ message: ZMQMessage, reason: String) {
        guard message.sourceFD >= 0 else { return }
        _ = Glibc.shutdown(message.sourceFD, Int32(SHUT_RDWR))
        logger.notice("Cut a connection.", metadata: ["reason": "\(reason)", "peer.key": "\(message.userId ?? "-")"])
    }

    /// A peer over its message rate: dropped, counted, and audited once per window with a count.
    func throttled(_ principal: Principal) {
        drops.drop(
            "rate_limited",
            sender: principal.sender,
            detail: "over \(configuration.maxMessagesPerSecond) msgs/s",
            logger: logger,
            now: now.timeIntervalSince1970
        )
        refuse(
            RefusalLedger.Refusal(
                action: "peer.throttled",
                subject: principal.auditName,
                actor: principal.auditName,
                reason: "over \(configuration.maxMessagesPerSecond) messages per second; excess dropped"
            ),
            key: principal.publicKey
        )
    }

    /// A message that claims another identity than its key: dropped and audited, aggregated (design §5).
    func identityMismatch(claimed: String, principal: Principal, type: MessageType) {
        drops.drop(
            "identity_mismatch",
            sender: principal.sender,
            detail: "claimed \(SafeText.clean(claimed, limit: 64))",
            logger: logger,
            now: now.timeIntervalSince1970
        )
        refuse(
            RefusalLedger.Refusal(
                action: "agent_token.rejected",
                subject: principal.auditName,
                actor: principal.auditName,
                reason:
                    "message claims identity \(SafeText.clean(claimed, limit: 80)) but arrived on the key of \(principal.auditName)",
                details: [
                    "claimed": .string(claimed), "actual": .string(principal.auditName),
                    "messageType": .string(type.rawValue),
                ]
            ),
            key: principal.publicKey
        )
    }
}
