import CapsuleDomain
import CapsuleProtocol
import Foundation

/// What the aggregator knows about one agent.
package struct AgentState: Codable, Sendable, Hashable {
    package var agentId: String
    package var code: String
    package var lastHeartbeatAt: Date?
    package var status: AgentStatus
    package var reason: String
    /// Administrative state reported by the broker (DISABLED or REVOKED), if any.
    package var adminStatus: AgentStatus?
    /// Manifest digest the agent's heartbeats carry, and the digest of the last report we hold.
    package var heartbeatDigest: String?
    package var reportedDigest: String?
    package var services: [String]
    package var changedAt: Date?
}

/// What the aggregator knows about one service.
package struct ServiceState: Codable, Sendable, Hashable {
    package var code: String
    package var agentId: String
    package var manifest: ServiceManifest?
    package var health: HealthReport?
    /// When the aggregator received the latest health sample.
    package var healthAt: Date?
    /// When the agent took that sample (agent clock).
    package var sampledAt: Date?
    /// nil until the rule has been applied once.
    package var status: EffectiveStatus?
    package var reason: String
    package var changedAt: Date?
}

/// One change of an agent's status or a service's effectiveStatus (design §3).
package struct Transition: Sendable, Hashable {
    package enum Kind: String, Sendable, Hashable { case agent, service }
    package var kind: Kind
    package var subject: String
    package var from: String?
    package var to: String
    package var reason: String
    package var at: Date
}

/// The aggregator's fold: reports go in, transitions come out. Pure value type, no sockets, injected time.
package struct StatusBoard: Sendable {
    package private(set) var agents: [String: AgentState] = [:]
    package private(set) var services: [String: ServiceState] = [:]
    package var thresholds: StatusThresholds
    /// Agents and services whose stored state is behind the board (for periodic persistence).
    package private(set) var dirtyAgents: Set<String> = []
    package private(set) var dirtyServices: Set<String> = []

    package init(thresholds: StatusThresholds, agents: [AgentState] = [], services: [ServiceState] = []) {
        self.thresholds = thresholds
        for agent in agents { self.agents[agent.agentId] = agent }
        for service in services { self.services[service.code] = service }
    }

    package mutating func clearDirty() {
        dirtyAgents.removeAll()
        dirtyServices.removeAll()
    }

    private mutating func ensureAgent(_ agentId: String, code: String) {
        if agents[agentId] == nil {
            agents[agentId] = AgentState(agentId: agentId, code: code, lastHeartbeatAt: nil, status: .pending,
                                         reason: "no heartbeat yet", services: [])
        }
    }

    private mutating func ensureService(_ code: String, agentId: String) {
        if services[code] == nil {
            services[code] = ServiceState(code: code, agentId: agentId, reason: "")
        }
        if let previous = services[code]?.agentId, previous != agentId {
            // The service moved (re-enrolment): its former agent no longer answers for it.
            agents[previous]?.services.removeAll { $0 == code }
            dirtyAgents.insert(previous)
        }
        services[code]?.agentId = agentId
        if agents[agentId]?.services.contains(code) == false { agents[agentId]?.services.append(code) }
    }

    private mutating func applyHealth(_ samples: [ServiceHealth], agentId: String, now: Date) {
        for sample in samples {
            ensureService(sample.code, agentId: agentId)
            services[sample.code]?.health = HealthReport(
                status: sample.health.status, message: sample.health.message, details: Redactor.redact(sample.health.details))
            services[sample.code]?.healthAt = now
            services[sample.code]?.sampledAt = sample.sampledAt
            dirtyServices.insert(sample.code)
        }
    }

    /// A heartbeat arrived now.
    package mutating func apply(_ heartbeat: Heartbeat, now: Date) -> [Transition] {
        ensureAgent(heartbeat.agentId, code: heartbeat.agentCode)
        agents[heartbeat.agentId]?.lastHeartbeatAt = now
        agents[heartbeat.agentId]?.heartbeatDigest = heartbeat.manifestDigest
        agents[heartbeat.agentId]?.code = heartbeat.agentCode
        dirtyAgents.insert(heartbeat.agentId)
        applyHealth(heartbeat.services, agentId: heartbeat.agentId, now: now)
        return recompute(agentId: heartbeat.agentId, now: now)
    }

    /// An out-of-cadence health update arrived now.
    package mutating func apply(_ update: HealthUpdate, now: Date) -> [Transition] {
        guard agents[update.agentId] != nil else { return [] }
        applyHealth(update.services, agentId: update.agentId, now: now)
        return recompute(agentId: update.agentId, now: now)
    }

    /// A service report (manifests) arrived now.
    package mutating func apply(_ report: ServiceReport, now: Date) -> [Transition] {
        ensureAgent(report.agentId, code: report.agentCode)
        agents[report.agentId]?.reportedDigest = report.digest
        for manifest in report.services {
            ensureService(manifest.code, agentId: report.agentId)
            services[manifest.code]?.manifest = manifest.sanitized
            dirtyServices.insert(manifest.code)
        }
        dirtyAgents.insert(report.agentId)
        return recompute(agentId: report.agentId, now: now)
    }

    /// The broker changed an agent's administrative state (`nil` re-enables it).
    package mutating func setAdminStatus(_ status: AgentStatus?, agentId: String, now: Date) -> [Transition] {
        guard agents[agentId] != nil else { return [] }
        agents[agentId]?.adminStatus = status
        dirtyAgents.insert(agentId)
        return recompute(agentId: agentId, now: now)
    }

    /// Whether the agent's heartbeats name a manifest digest we do not hold: ask it to report again.
    package func needsReport(agentId: String) -> Bool {
        guard let agent = agents[agentId], let digest = agent.heartbeatDigest else { return false }
        return digest != agent.reportedDigest
    }

    /// Re-applies the rule to everything (the sweep).
    package mutating func sweep(now: Date) -> [Transition] {
        agents.keys.sorted().flatMap { recompute(agentId: $0, now: now) }
    }

    private mutating func recompute(agentId: String, now: Date) -> [Transition] {
        guard var agent = agents[agentId] else { return [] }
        var transitions: [Transition] = []
        let verdict = EffectiveStatusRule.agentStatus(
            adminStatus: agent.adminStatus, lastHeartbeatAt: agent.lastHeartbeatAt, now: now, thresholds: thresholds)
        if verdict.status != agent.status {
            transitions.append(Transition(kind: .agent, subject: "agent:\(agentId)", from: agent.status.rawValue,
                                          to: verdict.status.rawValue, reason: verdict.reason, at: now))
            agent.status = verdict.status
            agent.changedAt = now
            dirtyAgents.insert(agentId)
        }
        agent.reason = verdict.reason
        agents[agentId] = agent
        for code in agent.services.sorted() {
            guard var service = services[code] else { continue }
            let input = StatusInput(
                agentAdminStatus: agent.adminStatus, lastHeartbeatAt: agent.lastHeartbeatAt,
                health: service.health?.status, healthAt: service.healthAt)
            let result = EffectiveStatusRule.evaluate(input, now: now, thresholds: thresholds)
            if result.status != service.status {
                transitions.append(Transition(kind: .service, subject: "service:\(code)", from: service.status?.rawValue,
                                              to: result.status.rawValue, reason: result.reason, at: now))
                service.status = result.status
                service.changedAt = now
                dirtyServices.insert(code)
            }
            service.reason = result.reason
            services[code] = service
        }
        return transitions
    }
}
