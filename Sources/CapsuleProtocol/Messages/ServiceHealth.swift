package import CapsuleDomain
package import Foundation

/// One service's health inside a heartbeat or health message.
package struct ServiceHealth: Codable, Sendable, Hashable {
    package var code: String
    package var health: HealthReport
    /// When the agent sampled it (epoch ms at the agent).
    package var sampledAt: Date

    package init(code: String, health: HealthReport, sampledAt: Date) {
        self.code = code
        self.health = health
        self.sampledAt = sampledAt
    }
}
