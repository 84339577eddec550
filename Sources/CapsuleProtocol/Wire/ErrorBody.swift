package import CapsuleDomain

/// A structured error on the wire: a stable, extensible code and a one-line message (docs/protocol.md §11).
package struct ErrorBody: Codable, Sendable, Hashable, Error, CustomStringConvertible {
    /// An error code; on the wire, its `rawValue` string. New codes may appear; readers treat an
    /// unknown code by its message.
    package struct Code: RawRepresentable, Codable, Sendable, Hashable, CustomStringConvertible,
        ExpressibleByStringLiteral
    {
        package var rawValue: String
        package init(rawValue: String) { self.rawValue = rawValue }
        package init(stringLiteral value: String) { rawValue = value }
        package init(from decoder: any Decoder) throws {
            rawValue = try decoder.singleValueContainer().decode(String.self)
        }
        package func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            try container.encode(rawValue)
        }
        package var description: String { rawValue }

        // Frames and decoding (router `error`).
        package static let truncated: Code = "truncated"
        package static let oversized: Code = "oversized"
        package static let malformedHeader: Code = "malformed_header"
        package static let unsupportedVersion: Code = "unsupported_version"
        package static let unknownType: Code = "unknown_type"
        package static let malformedBody: Code = "malformed_body"
        // Keys and identities (router `error`).
        package static let unauthenticated: Code = "unauthenticated"
        package static let notEnrolled: Code = "not_enrolled"
        package static let keyDisabled: Code = "key_disabled"
        package static let keyRevoked: Code = "key_revoked"
        package static let identityMismatch: Code = "identity_mismatch"
        package static let notAllowed: Code = "not_allowed"
        package static let rateLimited: Code = "rate_limited"
        // Hello and enrolment (router `error`).
        package static let notAnAgent: Code = "not_an_agent"
        package static let agentDisabled: Code = "agent_disabled"
        package static let agentRevoked: Code = "agent_revoked"
        package static let agentCodeMismatch: Code = "agent_code_mismatch"
        package static let enrollmentTokenRequired: Code = "enrollment_token_required"
        package static let tokenInvalid: Code = "token_invalid"
        package static let tokenUsed: Code = "token_used"
        package static let tokenExpired: Code = "token_expired"
        package static let tokenRevoked: Code = "token_revoked"
        package static let tokenCodeMismatch: Code = "token_code_mismatch"
        package static let agentCodeTaken: Code = "agent_code_taken"
        package static let serviceOwned: Code = "service_owned"
        package static let invalidIdentifier: Code = "invalid_identifier"
        package static let tooManyServices: Code = "too_many_services"
        package static let `internal`: Code = "internal"
        // Agent updates to commands (router `error`).
        package static let commandTerminal: Code = "command_terminal"
        package static let unknownCommand: Code = "unknown_command"
        package static let timeout: Code = "timeout"
        // Replies (`reply` with `ok: false`).
        package static let forbidden: Code = "forbidden"
        package static let serviceUnavailable: Code = "service_unavailable"
        package static let unknownOp: Code = "unknown_op"
        package static let badRequest: Code = "bad_request"
        package static let badCursor: Code = "bad_cursor"
        package static let unknownService: Code = "unknown_service"
        package static let unknownAction: Code = "unknown_action"
        package static let confirmationRequired: Code = "confirmation_required"
        package static let invalidPayload: Code = "invalid_payload"
        package static let agentOffline: Code = "agent_offline"
        package static let notCancellable: Code = "not_cancellable"
        package static let notFound: Code = "not_found"
        package static let finalState: Code = "final_state"
        package static let conflict: Code = "conflict"
        package static let badFilter: Code = "bad_filter"
        package static let backupFailed: Code = "backup_failed"
        package static let unavailable: Code = "unavailable"
        // Command results (agent → broker, stored as `errorCode`).
        package static let handlerError: Code = "handler_error"
        package static let agentRestarted: Code = "agent_restarted"
        package static let ledgerUnavailable: Code = "ledger_unavailable"
        package static let resultTooLarge: Code = "result_too_large"
        // Local to a client, never on the wire.
        package static let noKey: Code = "no_key"
        package static let badPayload: Code = "bad_payload"
        package static let badReply: Code = "bad_reply"
        package static let unreachable: Code = "unreachable"
        /// This broker is the standby of a pair; `activeBroker` names the active one's router.
        package static let standby: Code = "standby"
    }

    package var code: Code
    package var message: String
    /// With `standby`: the router endpoint of the active broker, when known.
    package var activeBroker: String?

    package init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    package init(code: Code, message: String) {
        self.code = code
        self.message = message
    }

    package var description: String { "\(code.rawValue): \(message)" }
}

extension ErrorBody: JSONValueDecodable, JSONWritable {
    /// The error from its fields, read as `init(from:)` reads it.
    package init(fields json: some JSONFields) throws(JSONFieldError) {
        code = Code(rawValue: try json.string("code"))
        message = try json.string("message")
        activeBroker = try json.optionalString("activeBroker")
    }

    /// The members `encode(to:)` writes, in its order.
    package func write(into writer: inout JSONWriter) {
        writer.beginObject()
        writer.field("code", code.rawValue, first: true)
        writer.field("message", message)
        writer.field("activeBroker", activeBroker)
        writer.endObject()
    }
}
