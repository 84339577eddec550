import CapsuleDomain
import Foundation

/// `journal.replay` params: events after `after` of incarnation `incarnation` (absent: the current).
package struct JournalReplayParams: Codable, Sendable, Hashable {
    package var after: UInt64
    package var incarnation: String?
    package init(after: UInt64, incarnation: String? = nil) {
        self.after = after
        self.incarnation = incarnation
    }
}
