package import CapsuleDomain
package import CapsuleProtocol
package import Foundation
package import HTTPTypes

/// What the console forwards to the broker, and how.
///
/// The console decides nothing about roles: it forwards every operator-facing operation (those whose
/// rule in ``OperationPolicy`` is a role) with its key, and the broker checks the role of that key for
/// each one, refuses what it lacks (`forbidden`) and audits the refusal (`operator.denied`). Internal
/// operations (`journal.*`) are not forwarded at all.
package enum ConsoleOperations {
    /// The longest the console holds one `command.wait`; the page asks again for longer waits.
    package static let maxWaitSeconds = 25.0
    /// Largest request body the console accepts.
    package static let maxBodyBytes = 256 * 1024

    package static func isForwarded(service: String, op: String) -> Bool {
        if case .role? = OperationPolicy.access(service: service, op: op) { return true }
        return false
    }

    /// Waits that may be held for seconds go to their own threads, so they never delay a page.
    package static func isLong(op: String, params: JSONValue) -> Bool {
        op == BrokerOps.CommandWait.name || (op == AuditOps.Query.name && params["waitSeconds"] != nil)
    }

    /// The params to send, with waits bounded, and how long to wait for the answer.
    package static func prepare(op: String, params: JSONValue) -> (params: JSONValue, timeout: TimeInterval) {
        guard case .object(var fields) = params else { return (params, 10) }
        switch op {
        case BrokerOps.CommandWait.name:
            let asked: Double
            if case .number(let seconds)? = fields["timeoutSeconds"] { asked = seconds } else { asked = maxWaitSeconds }
            let seconds = max(0, min(asked, maxWaitSeconds))
            fields["timeoutSeconds"] = .number(seconds)
            return (.object(fields), seconds + 10)
        case AuditOps.Query.name:
            if case .number(let seconds)? = fields["waitSeconds"] {
                return (params, min(seconds, AuditFilter.maxWaitSeconds) + 10)
            }
            return (params, 15)
        default:
            return (params, 10)
        }
    }

    /// The HTTP status for an error from the broker (or from the console's own client).
    package static func status(for code: ErrorBody.Code) -> HTTPResponse.Status {
        switch code {
        case .forbidden: .forbidden
        case .unknownOp, .notFound, .unknownService, .unknownAction, .unknownCommand: .notFound
        case .conflict: .conflict
        case .timeout: .gatewayTimeout
        case .unreachable, .badReply: .badGateway
        case .serviceUnavailable, .unavailable, .rateLimited: .serviceUnavailable
        case .internal: .internalServerError
        case "key_disabled", "key_revoked", "not_enrolled", "unauthenticated": .badGateway
        default: .badRequest
        }
    }
}
