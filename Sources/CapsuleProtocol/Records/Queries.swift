import CapsuleDomain
import Foundation

/// One row of `capsulectl status`.
package struct ServiceStatusRow: Codable, Sendable, Hashable {
    package var code: String
    package var name: String?
    package var status: String
    package var reason: String
    package var healthStatus: String?
    package var healthMessage: String?
    package var healthAt: Date?
    package var agentId: String
    package var agentCode: String?
    package var agentStatus: String?
    package var lastHeartbeatAt: Date?
    package var changedAt: Date?

    package init(code: String, name: String? = nil, status: String, reason: String, healthStatus: String? = nil, healthMessage: String? = nil, healthAt: Date? = nil, agentId: String, agentCode: String? = nil, agentStatus: String? = nil, lastHeartbeatAt: Date? = nil, changedAt: Date? = nil) {
        self.code = code
        self.name = name
        self.status = status
        self.reason = reason
        self.healthStatus = healthStatus
        self.healthMessage = healthMessage
        self.healthAt = healthAt
        self.agentId = agentId
        self.agentCode = agentCode
        self.agentStatus = agentStatus
        self.lastHeartbeatAt = lastHeartbeatAt
        self.changedAt = changedAt
    }
}

extension ServiceStatusRow {
    /// About how many bytes this row takes as JSON, for page budgets.
    package var estimatedSize: Int {
        260 + code.utf8.count + (name?.utf8.count ?? 0) + reason.utf8.count + (healthMessage?.utf8.count ?? 0)
            + agentId.utf8.count + (agentCode?.utf8.count ?? 0)
    }
}

/// `status.summary`: the counts an operator reads first.
package struct StatusSummary: Codable, Sendable, Hashable {
    /// Services per effectiveStatus; every status is present, zero included.
    package var services: [String: Int]
    /// Agents per agent status; every status is present, zero included.
    package var agents: [String: Int]
    package var totalServices: Int
    package var totalAgents: Int

    package init(services: [String: Int], agents: [String: Int], totalServices: Int, totalAgents: Int) {
        self.services = services
        self.agents = agents
        self.totalServices = totalServices
        self.totalAgents = totalAgents
    }
}

/// One row of `capsulectl agents`.
package struct AgentRow: Codable, Sendable, Hashable {
    package var agentId: String
    package var code: String
    package var status: String
    package var reason: String
    package var lastHeartbeatAt: Date?
    package var services: [String]

    package init(agentId: String, code: String, status: String, reason: String, lastHeartbeatAt: Date? = nil, services: [String]) {
        self.agentId = agentId
        self.code = code
        self.status = status
        self.reason = reason
        self.lastHeartbeatAt = lastHeartbeatAt
        self.services = services
    }
}

extension AgentRow {
    package var estimatedSize: Int {
        160 + agentId.utf8.count + code.utf8.count + reason.utf8.count + services.reduce(0) { $0 + $1.utf8.count + 3 }
    }
}

/// `capsulectl service show`.
package struct ServiceDetail: Codable, Sendable, Hashable {
    package var status: ServiceStatusRow
    package var manifest: ServiceManifest?
    package var healthDetails: JSONValue?

    package init(status: ServiceStatusRow, manifest: ServiceManifest? = nil, healthDetails: JSONValue? = nil) {
        self.status = status
        self.manifest = manifest
        self.healthDetails = healthDetails
    }
}

/// Filters for audit queries; every field is optional.
package struct AuditFilter: Codable, Sendable, Hashable {
    package var subject: String?
    /// Exact action, or a prefix ending in `.` or `*` (`command.` matches every command event).
    package var action: String?
    package var actor: String?
    package var result: AuditResult?
    package var since: Date?
    package var until: Date?
    /// Only events stored after this audit row id (for `--follow`).
    package var afterId: Int64?
    /// Only events stored before this audit row id (paging newest first).
    package var beforeId: Int64?
    package var limit: Int?
    /// Oldest first instead of newest first.
    package var ascending: Bool?
    /// With `afterId`: when nothing matches yet, hold the request up to this many seconds (at most
    /// ``AuditFilter/maxWaitSeconds``) and answer as soon as a matching record is stored.
    package var waitSeconds: Double?

    package static let maxWaitSeconds = 8.0

    package init() {}
}

/// One stored audit record.
package struct AuditRecord: Codable, Sendable, Hashable {
    package var id: Int64
    package var event: AuditEvent

    package init(id: Int64, event: AuditEvent) {
        self.id = id
        self.event = event
    }
}


/// One page of an audit query. Pages stay under the wire's body limit; `complete` is false when more
/// records match (ask again with `beforeId`, or `afterId` when ascending).
package struct AuditPage: Codable, Sendable, Hashable {
    package var records: [AuditRecord]
    package var complete: Bool

    package init(records: [AuditRecord], complete: Bool) {
        self.records = records
        self.complete = complete
    }
}
