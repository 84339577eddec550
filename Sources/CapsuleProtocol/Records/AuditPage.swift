import CapsuleDomain
import Foundation

/// One page of an audit query. Pages stay under the wire's body limit; `complete` is false when more
/// records match (ask again with `beforeId`, or `afterId` when ascending).
package struct AuditPage: Codable, Sendable, Hashable {
    package var records: [AuditRecord]
    package var complete: Bool

    package init(records: [AuditRecord], complete: Bool) {
        self.records = records
        self.complete = complete
    }
}
