import CapsuleDomain
package import Foundation

/// One row of `capsulectl agents`.
package struct AgentRow: Codable, Sendable, Hashable {
    package var agentId: String
    package var code: String
    package var status: String
    package var reason: String
    package var lastHeartbeatAt: Date?
    package var services: [String]

    package init(
        agentId: String,
        code: String,
        status: String,
        reason: String,
        lastHeartbeatAt: Date? = nil,
        services: [String]
    ) {
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
