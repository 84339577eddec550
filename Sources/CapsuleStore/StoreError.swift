package import CapsuleProtocol

/// A storage failure or refusal with a stable code.
package struct StoreError: Error, Sendable, Hashable, CustomStringConvertible {
    package struct Code: RawRepresentable, Sendable, Hashable {
        package var rawValue: String
        package init(rawValue: String) { self.rawValue = rawValue }

        package static let notFound = Code(rawValue: "not_found")
        package static let conflict = Code(rawValue: "conflict")
        package static let corrupt = Code(rawValue: "corrupt")
        package static let tokenInvalid = Code(rawValue: "token_invalid")
        package static let tokenUsed = Code(rawValue: "token_used")
        package static let tokenExpired = Code(rawValue: "token_expired")
        package static let tokenRevoked = Code(rawValue: "token_revoked")
        package static let tokenCodeMismatch = Code(rawValue: "token_code_mismatch")
        package static let codeTaken = Code(rawValue: "agent_code_taken")
        package static let serviceOwned = Code(rawValue: "service_owned")
        package static let finalState = Code(rawValue: "final_state")
        package static let badRequest = Code(rawValue: "bad_request")
        /// The store's server cannot be reached (PostgreSQL down, network cut); the message names it.
        package static let unavailable = Code(rawValue: "unavailable")
    }

    package var code: Code
    package var message: String

    package init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    package var description: String { "\(code.rawValue): \(message)" }

    /// The same refusal as a wire error.
    package var body: ErrorBody { ErrorBody(ErrorBody.Code(rawValue: code.rawValue), message) }
}
