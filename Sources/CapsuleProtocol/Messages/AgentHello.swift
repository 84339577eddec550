import CapsuleDomain
import Foundation

/// `agent.hello`: the first message on an agent's DEALER, and again after every reconnect.
package struct AgentHello: Codable, Sendable, Hashable {
    package var agentCode: String
    package var services: [String]
    package var manifestDigest: String
    package var software: String
    /// A one-time registration token, needed only when the key is not yet enrolled.
    package var enrollmentToken: String?

    package init(
        agentCode: String,
        services: [String],
        manifestDigest: String,
        software: String,
        enrollmentToken: String? = nil
    ) {
        self.agentCode = agentCode
        self.services = services
        self.manifestDigest = manifestDigest
        self.software = software
        self.enrollmentToken = enrollmentToken
    }
}
