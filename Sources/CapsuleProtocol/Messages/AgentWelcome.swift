import CapsuleDomain
import Foundation

/// `agent.welcome`: the broker's answer to a hello.
package struct AgentWelcome: Codable, Sendable, Hashable {
    package var agentId: String
    package var heartbeatSeconds: Double

    package init(agentId: String, heartbeatSeconds: Double) {
        self.agentId = agentId
        self.heartbeatSeconds = heartbeatSeconds
    }
}
