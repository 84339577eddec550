import CapsuleDomain
import Foundation

/// `journal.ack` params.
package struct JournalAckParams: Codable, Sendable, Hashable {
    package var upTo: UInt64
    package var incarnation: String?
    package init(upTo: UInt64, incarnation: String? = nil) {
        self.upTo = upTo
        self.incarnation = incarnation
    }
}
