package import CapsuleDomain
import CapsuleProtocol
package import Foundation

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
    /// The service codes of the agent's last report (nil before any): its heartbeats speak only for these.
    package var declared: [String]?
    package var changedAt: Date?

    package init(
        agentId: String,
        code: String,
        lastHeartbeatAt: Date?,
        status: AgentStatus,
        reason: String,
        adminStatus: AgentStatus? = nil,
        heartbeatDigest: String? = nil,
        reportedDigest: String? = nil,
        services: [String],
        declared: [String]? = nil,
        changedAt: Date? = nil
    ) {
        self.agentId = agentId
        self.code = code
        self.lastHeartbeatAt = lastHeartbeatAt
        self.status = status
        self.reason = reason
        self.adminStatus = adminStatus
        self.heartbeatDigest = heartbeatDigest
        self.reportedDigest = reportedDigest
        self.services = services
        self.declared = declared
        self.changedAt = changedAt
    }
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

    package init(
        code: String,
        agentId: String,
        manifest: ServiceManifest? = nil,
        health: HealthReport? = nil,
        healthAt: Date? = nil,
        sampledAt: Date? = nil,
        status: EffectiveStatus? = nil,
        reason: String,
        changedAt: Date? = nil
    ) {
        self.code = code
        self.agentId = agentId
        self.manifest = manifest
        self.health = health
        self.healthAt = healthAt
        self.sampledAt = sampledAt
        self.status = status
        self.reason = reason
        self.changedAt = changedAt
    }
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
