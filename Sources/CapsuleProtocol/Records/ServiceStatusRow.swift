import CapsuleDomain
package import Foundation

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

    package init(
        code: String,
        name: String? = nil,
        status: String,
        reason: String,
        healthStatus: String? = nil,
        healthMessage: String? = nil,
        healthAt: Date? = nil,
        agentId: String,
        agentCode: String? = nil,
        agentStatus: String? = nil,
        lastHeartbeatAt: Date? = nil,
        changedAt: Date? = nil
    ) {
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
