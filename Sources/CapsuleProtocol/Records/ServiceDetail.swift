package import CapsuleDomain
import Foundation

/// `capsulectl service show`.
package struct ServiceDetail: Codable, Sendable, Hashable {
    package var status: ServiceStatusRow
    package var manifest: ServiceManifest?
    package var healthDetails: JSONValue?

    package init(status: ServiceStatusRow, manifest: ServiceManifest? = nil, healthDetails: JSONValue? = nil) {
        self.status = status
        self.manifest = manifest
        self.healthDetails = healthDetails
    }
}
