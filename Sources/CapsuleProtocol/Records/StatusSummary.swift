import CapsuleDomain
import Foundation

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
