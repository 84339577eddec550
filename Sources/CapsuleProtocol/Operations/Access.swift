import CapsuleDomain
import Foundation

/// Who may call an operation (docs/security.md, "Roles"). The broker checks it for every request,
/// in one place (``OperationPolicy``), before it answers or routes.
package enum Access: Sendable, Hashable {
    /// Operators holding at least this role, and internal services.
    case role(OperatorRole)
    /// Only these internal services (for instance the audit writer for `journal.ack`).
    case internalOnly(Set<String>)
}
