import CapsuleDomain
import CapsuleProtocol
import CapsuleRuntime
import CapsuleStore
import Foundation
import Logging

extension BrokerCore {
    func registerAdminOperations() {
        on(BrokerOps.JournalReplay.self) { core, params, _, respond in
            let journal = core.journal
            respond.succeed(
                encoded: try core.store.database.read { db in
                    try journal.pageJSON(db, after: params.after, incarnation: params.incarnation)
                }
            )
        }
        on(BrokerOps.JournalAck.self) { core, params, _, respond in
            let journal = core.journal
            let at = core.now
            core.auditAckedUpTo = params.upTo
            core.write(respond) { db in
                if try journal.acknowledge(db, upTo: params.upTo, incarnation: params.incarnation) {
                    return .success((Empty(), []))
                }
                // The audit writer has seen more of this incarnation than the journal holds: the store
                // was restored from an older copy. A new incarnation keeps new events from being taken
                // for ones already stored (design §6).
                let old = journal.incarnation
                let held = journal.lastSeq
                let fresh = try journal.startNewIncarnation(db)
                return .success(
                    (
                        Empty(),
                        [
                            AuditEvent(
                                publisher: "broker",
                                seq: 0,
                                at: at,
                                action: "journal.incarnation_started",
                                subject: "journal:broker",
                                actor: "system",
                                from: old.isEmpty ? "legacy" : old,
                                to: fresh,
                                reason:
                                    "the audit writer had seen seq \(params.upTo) of \(old.isEmpty ? "the legacy incarnation" : old) but the journal ends at \(held): store restored; new events continue as \(fresh)"
                            )
                        ]
                    )
                )
            }
        }
        on(BrokerOps.Stats.self) { core, _, _, respond in
            respond.succeed(
                BrokerStats(
                    forwarded: core.forwarded,
                    dropped: core.drops.counts,
                    agentsConnected: core.agentRoutes.count,
                    workers: core.workers.keys.sorted()
                )
            )
        }
        on(BrokerOps.SettingsGet.self) { core, _, _, respond in respond.succeed(core.settings) }
        on(BrokerOps.SettingsSet.self) { core, change, context, respond in
            var next = core.settings
            if let value = change.heartbeatSeconds { next.heartbeatSeconds = value }
            if let value = change.staleSeconds { next.staleSeconds = value }
            if let value = change.offlineSeconds { next.offlineSeconds = value }
            if let value = change.commandTTLSeconds { next.commandTTLSeconds = value }
            if let value = change.retentionDays { next.retentionDays = value }
            try Self.validate(next)
            next.version += 1
            let (actor, at, previous) = (context.principal.sender, core.now, core.settings)
            core.write(
                respond,
                { db in
                    try BrokerStore.save(db, settings: next)
                    return .success(
                        (
                            next,
                            [
                                AuditEvent(
                                    publisher: "broker",
                                    seq: 0,
                                    at: at,
                                    action: "settings.changed",
                                    subject: "settings",
                                    actor: actor,
                                    from: String(previous.version),
                                    to: String(next.version),
                                    reason: Self.describe(previous, next),
                                    details: .object(["before": .encoding(previous), "after": .encoding(next)])
                                )
                            ]
                        )
                    )
                },
                then: { [unowned core] saved in core.settings = saved }
            )
        }
        on(BrokerOps.ClusterInfo.self) { core, _, context, respond in
            let current = core.now
            var components = [
                ClusterInfo.Component(
                    name: "broker",
                    connected: true,
                    version: CapsuleVersion.current,
                    startedAt: core.startedAt,
                    lastSeenAt: current,
                    lag: core.auditAckedUpTo.map { Int(core.journal.lastSeq) - Int($0) },
                    commit: CapsuleVersion.commit,
                    schemaVersion: BrokerStore.schemaVersion,
                    protocolVersion: WireCodec.version
                )
            ]
            for name in ["aggregator", "audit"] {
                let worker = core.workers[name]
                let connected = worker.map { current.timeIntervalSince($0.lastSeen) < 10 } ?? false
                components.append(
                    ClusterInfo.Component(
                        name: name,
                        connected: connected,
                        version: worker?.ready.version,
                        startedAt: worker?.ready.startedAt,
                        lastSeenAt: worker?.lastSeen,
                        commit: worker?.ready.commit,
                        schemaVersion: worker?.ready.schemaVersion,
                        protocolVersion: worker.map { _ in WireCodec.version }
                    )
                )
            }
            respond.succeed(
                ClusterInfo(
                    components: components,
                    protocolVersion: WireCodec.version,
                    caller: context.principal.sender,
                    role: context.principal.role?.rawValue
                )
            )
        }
        on(BrokerOps.SessionWhoami.self) { _, _, context, respond in
            // Internal services pass every role check; they read as owners here.
            let principal = context.principal
            respond.succeed(
                .init(name: principal.identity, role: principal.kind == .operator ? principal.role ?? .viewer : .owner)
            )
        }
    }

    static func validate(_ settings: Settings) throws(ErrorBody) {
        guard settings.heartbeatSeconds > 0, settings.staleSeconds > 0, settings.offlineSeconds > 0 else {
            throw ErrorBody(.badRequest, "heartbeat, stale and offline seconds must be positive")
        }
        guard settings.staleSeconds <= settings.offlineSeconds else {
            throw ErrorBody(
                .badRequest,
                "stale seconds (\(settings.staleSeconds)) must not exceed offline seconds (\(settings.offlineSeconds))"
            )
        }
        guard settings.heartbeatSeconds < settings.staleSeconds else {
            throw ErrorBody(
                .badRequest,
                "heartbeat seconds (\(settings.heartbeatSeconds)) must be below stale seconds (\(settings.staleSeconds)), or every service turns STALE"
            )
        }
        guard settings.commandTTLSeconds >= 1, settings.commandTTLSeconds <= 86_400 else {
            throw ErrorBody(.badRequest, "command TTL must be between 1 s and 1 day")
        }
        guard settings.retentionDays >= 0 else {
            throw ErrorBody(.badRequest, "retention days must be 0 (keep forever) or more")
        }
    }

    static func describe(_ before: Settings, _ after: Settings) -> String {
        var changes: [String] = []
        func note<T: Equatable>(_ name: String, _ a: T, _ b: T) { if a != b { changes.append("\(name) \(a) → \(b)") } }
        note("heartbeat", before.heartbeatSeconds, after.heartbeatSeconds)
        note("stale", before.staleSeconds, after.staleSeconds)
        note("offline", before.offlineSeconds, after.offlineSeconds)
        note("command TTL", before.commandTTLSeconds, after.commandTTLSeconds)
        note("retention days", before.retentionDays, after.retentionDays)
        return changes.isEmpty ? "no change" : changes.joined(separator: ", ")
    }

    /// Enrols the principals a fresh home needs (internal services, trusted remote services, the
    /// local owner) and journals each one that is new, so the first owner key is audited too.
    func seed(_ principals: [Principal]) throws {
        let journal = self.journal
        let at = now
        let added = try store.database.write { (db: any SQLConnection) -> [AuditEvent] in
            var events: [AuditEvent] = []
            for principal in principals {
                if try SQLRow.fetchOne(
                    db,
                    sql: "SELECT 1 FROM principal WHERE publicKey = ?",
                    arguments: [principal.publicKey]
                ) != nil {
                    continue
                }
                try BrokerStore.upsert(principal, db)
                switch principal.kind {
                case .operator:
                    events.append(
                        try journal.append(
                            db,
                            AuditEvent(
                                publisher: "broker",
                                seq: 0,
                                at: at,
                                action: "operator.added",
                                subject: "operator:\(principal.identity)",
                                actor: "system",
                                to: principal.role?.rawValue,
                                reason:
                                    "created at the broker's first start with role \(principal.role?.rawValue ?? "viewer")",
                                details: .object(["publicKey": .string(principal.publicKey)])
                            )
                        )
                    )
                case .service:
                    events.append(
                        try journal.append(
                            db,
                            AuditEvent(
                                publisher: "broker",
                                seq: 0,
                                at: at,
                                action: "service_key.trusted",
                                subject: principal.auditName,
                                actor: "system",
                                reason: "internal service key trusted",
                                details: .object(["publicKey": .string(principal.publicKey)])
                            )
                        )
                    )
                case .agent:
                    break
                }
            }
            return events
        }
        learn(principals.compactMap { try? store.principal(publicKey: $0.publicKey) })
        added.forEach(publish)
    }
}
