package import CapsuleDomain
package import Foundation

/// Filters for audit queries; every field is optional.
package struct AuditFilter: Codable, Sendable, Hashable {
    package var subject: String?
    /// Exact action, or a prefix ending in `.` or `*` (`command.` matches every command event).
    package var action: String?
    package var actor: String?
    package var result: AuditResult?
    package var since: Date?
    package var until: Date?
    /// Only events stored after this audit row id (for `--follow`).
    package var afterId: Int64?
    /// Only events stored before this audit row id (paging newest first).
    package var beforeId: Int64?
    package var limit: Int?
    /// Oldest first instead of newest first.
    package var ascending: Bool?
    /// With `afterId`: when nothing matches yet, hold the request up to this many seconds (at most
    /// ``AuditFilter/maxWaitSeconds``) and answer as soon as a matching record is stored.
    package var waitSeconds: Double?

    package static let maxWaitSeconds = 8.0

    package init() {}
}
