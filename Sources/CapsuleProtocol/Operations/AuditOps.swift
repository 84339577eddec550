import CapsuleDomain
import Foundation

/// Operations the audit writer answers (docs/protocol.md §10, service `audit`).
package enum AuditOps {
    package static let all: [any RequestOperation.Type] = [Query.self, Backup.self]

    package enum Query: RequestOperation {
        package typealias Params = AuditFilter
        package typealias Result = AuditPage
        package static let service = "audit"
        package static let name = "audit.query"
        package static let access = Access.role(.viewer)
    }

    /// An online backup into the audit writer's backup folder, by an owner.
    package enum Backup: RequestOperation {
        package struct Params: Codable, Sendable, Hashable {
            /// A file name (no folders): `^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`.
            package var name: String
            package init(name: String) { self.name = name }
        }
        package struct Result: Codable, Sendable, Hashable {
            package var path: String
            package var bytes: Int
            package init(path: String, bytes: Int) {
                self.path = path
                self.bytes = bytes
            }
        }
        package static let service = "audit"
        package static let name = "audit.backup"
        package static let access = Access.role(.owner)
    }
}
