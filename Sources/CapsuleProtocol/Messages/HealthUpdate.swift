import CapsuleDomain
import Foundation

/// `health`: an out-of-cadence health change for some of an agent's services.
package struct HealthUpdate: Codable, Sendable, Hashable {
    package var agentId: String
    package var services: [ServiceHealth]

    package init(agentId: String, services: [ServiceHealth]) {
        self.agentId = agentId
        self.services = services
    }
}
