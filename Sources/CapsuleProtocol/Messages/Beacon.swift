import CapsuleDomain
package import Foundation

/// `beacon`: a publisher's latest event sequence number, so a subscriber can see a gap at the tail.
package struct Beacon: Codable, Sendable, Hashable {
    package var publisher: String
    /// The publisher's journal incarnation (absent from publishers older than incarnations).
    package var incarnation: String?
    package var lastSeq: UInt64
    /// When the publishing process started (the broker sends it): a new value means it restarted.
    package var startedAt: Date?

    package init(publisher: String, incarnation: String? = nil, lastSeq: UInt64, startedAt: Date? = nil) {
        self.publisher = publisher
        self.incarnation = incarnation
        self.lastSeq = lastSeq
        self.startedAt = startedAt
    }
}
