package import CapsuleDomain
import Foundation

/// `service.report`: the manifests of every service behind an agent, with their digest.
package struct ServiceReport: Codable, Sendable, Hashable {
    package var agentId: String
    package var agentCode: String
    package var digest: String
    package var services: [ServiceManifest]

    package init(agentId: String, agentCode: String, services: [ServiceManifest]) {
        self.agentId = agentId
        self.agentCode = agentCode
        self.services = services
        self.digest = ManifestDigest.of(services)
    }
}
