import CapsuleDomain
import Foundation

/// `heartbeat`: sent by every agent on its cadence; carries the full current health.
package struct Heartbeat: Codable, Sendable, Hashable {
    package var agentId: String
    package var agentCode: String
    package var manifestDigest: String
    package var intervalSeconds: Double
    package var services: [ServiceHealth]
    /// Heartbeats the agent discarded instead of sending late (counted since it started).
    package var droppedStale: Int

    package init(
        agentId: String,
        agentCode: String,
        manifestDigest: String,
        intervalSeconds: Double,
        services: [ServiceHealth],
        droppedStale: Int = 0
    ) {
        self.agentId = agentId
        self.agentCode = agentCode
        self.manifestDigest = manifestDigest
        self.intervalSeconds = intervalSeconds
        self.services = services
        self.droppedStale = droppedStale
    }
}
