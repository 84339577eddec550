import CapsuleDomain
import Foundation

/// `report.request`: someone (the aggregator) wants the agent to publish its `service.report` again.
package struct ReportRequest: Codable, Sendable, Hashable {
    package var agentId: String
    package var reason: String

    package init(agentId: String, reason: String) {
        self.agentId = agentId
        self.reason = reason
    }
}
