import ArgumentParser
import CapsuleDaemon
import CapsuleDomain
package import CapsuleProtocol
import CapsuleRuntime
import CapsuleZMQ
import Foundation

/// `capsulectl`'s exit codes (README, `capsulectl --help`).
package enum CTLExitCode: Int32, CaseIterable, Sendable {
    /// It worked; for `action run`, the command SUCCEEDED.
    case success = 0
    /// The action ran and did not succeed (FAILED, EXPIRED, CANCELLED), or something else failed.
    case failed = 1
    /// Bad usage: an unknown command or flag, a bad value, an unknown context, a malformed config
    /// or key file.
    case usage = 2
    /// The broker refused: not enrolled, key removed or disabled, role too low, confirmation
    /// missing, payload invalid, agent disabled.
    case refused = 3
    /// No such service, action, command, token, agent or operator.
    case notFound = 4
    /// The broker (or the aggregator or audit writer behind it) cannot be reached.
    case unreachable = 5
    /// The wait ended (`--timeout`) before the command did; it may still finish.
    case timedOut = 6

    package var meaning: String {
        switch self {
        case .success: "success; for action run, the command SUCCEEDED"
        case .failed: "the action FAILED, EXPIRED or was CANCELLED; any other failure"
        case .usage: "usage: bad command, flag or value; unknown context; bad config/key file"
        case .refused: "refused: not enrolled, key removed, role too low, --confirm/payload needed"
        case .notFound: "not found: no such service, action, command, token, agent or operator"
        case .unreachable: "unreachable: the broker, or the aggregator/audit writer behind it"
        case .timedOut: "timed out: --timeout ended the wait; the command may still finish"
        }
    }

    /// The table for `--help` and the README.
    package static var table: String {
        allCases.map { "  \($0.rawValue)  \($0.meaning)" }.joined(separator: "\n")
    }

    /// The exit code for a wire or local error code.
    package static func of(_ code: ErrorBody.Code) -> CTLExitCode {
        switch code {
        case .forbidden, .unauthenticated, .notEnrolled, .keyDisabled, .keyRevoked, .identityMismatch, .notAllowed,
            .rateLimited,
            .confirmationRequired, .invalidPayload, .agentDisabled, .agentRevoked, .agentOffline, .notCancellable,
            .finalState,
            .conflict, .badRequest, .badFilter, .badCursor, .invalidIdentifier, .commandTerminal, .unknownOp,
            .tokenInvalid,
            .tokenUsed, .tokenExpired, .tokenRevoked, .agentCodeTaken, .serviceOwned:
            return .refused
        case .unknownService, .unknownAction, .unknownCommand, .notFound:
            return .notFound
        case .unreachable, .serviceUnavailable:
            return .unreachable
        case .timeout:
            return .timedOut
        case .noKey, .badPayload:
            return .usage
        default:
            return .failed
        }
    }
}

/// A failure `capsulectl` reports as one line and an exit code. Library code throws it; only the
/// thin `main` exits.
package struct CTLError: Error, Sendable, Hashable, CustomStringConvertible {
    package var exitCode: CTLExitCode
    package var message: String

    package init(_ exitCode: CTLExitCode, _ message: String) {
        self.exitCode = exitCode
        self.message = message
    }

    package var description: String { message }

    /// Any error a subcommand throws, as one line and an exit code.
    package static func from(_ error: any Error) -> CTLError {
        switch error {
        case let error as CTLError:
            return error
        case let error as ErrorBody:
            return CTLError(CTLExitCode.of(error.code), error.message)
        case let error as ConfigError:
            return CTLError(.usage, error.description)
        case let error as ZMQError:
            return CTLError(.unreachable, "transport: \(error)")
        case let error as ValidationError:
            return CTLError(.usage, error.message)
        default:
            return CTLError(.failed, DaemonExit.describe(error))
        }
    }
}
