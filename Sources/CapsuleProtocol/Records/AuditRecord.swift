package import CapsuleDomain
import Foundation

/// One stored audit record.
package struct AuditRecord: Codable, Sendable, Hashable {
    package var id: Int64
    package var event: AuditEvent

    package init(id: Int64, event: AuditEvent) {
        self.id = id
        self.event = event
    }
}
