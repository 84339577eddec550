import CapsuleDomain
import CapsuleProtocol
import CapsuleStore
import Foundation

/// The router session's decisions as a pure function: a decoded message and the principal of the
/// key it arrived on go in, an admission comes out (docs/protocol.md §5, "What the broker accepts
/// from whom"). ``BrokerCore`` learns routes only from what this admits.
enum RouterGate {
    enum Admission {
        /// `agent.hello` from any key (an unknown key may only enrol).
        case hello
        case agentAck
        case agentResult
        case workerReady
        case workerReply
        case reportRequest
        case request
        /// Refuse with an `error`; `cut` drops the connection too (a revoked key).
        case refuse(ErrorBody, cut: Bool, drop: String)
        /// The message claims another identity than its key.
        case identityMismatch(claimed: String)
    }

    static func admit(_ header: Header, principal: Principal?) -> Admission {
        if header.type == .agentHello { return .hello }
        guard let principal else {
            return .refuse(
                ErrorBody(
                    .notEnrolled,
                    "this key is not enrolled; enrol an agent or ask an owner to add this operator key"
                ),
                cut: false,
                drop: "unauthorised"
            )
        }
        switch principal.state {
        case .revoked:
            return .refuse(ErrorBody(.keyRevoked, "this key is revoked"), cut: true, drop: "inactive")
        case .disabled:
            // A disabled agent may still report what happened to commands it already ran (design §4:
            // the record never contradicts what happened); everything else is refused.
            guard principal.kind == .agent, header.type == .commandAck || header.type == .commandResult else {
                return .refuse(ErrorBody(.keyDisabled, "this key is disabled"), cut: false, drop: "inactive")
            }
        case .active:
            break
        }
        guard header.sender == principal.sender else { return .identityMismatch(claimed: header.sender) }
        switch (header.type, principal.kind) {
        case (.commandAck, .agent): return .agentAck
        case (.commandResult, .agent): return .agentResult
        case (.workerReady, .service): return .workerReady
        case (.reply, .service): return .workerReply
        case (.reportRequest, .service): return .reportRequest
        case (.request, .operator), (.request, .service): return .request
        default:
            return .refuse(
                ErrorBody(.notAllowed, "\(header.type.rawValue) is not accepted from a \(principal.kind.rawValue)"),
                cut: false,
                drop: "not_allowed"
            )
        }
    }

    /// Whether an enrolled agent's hello may be welcomed: the key must be an active agent key
    /// enrolled under the code the hello names.
    static func welcome(_ hello: AgentHello, principal: Principal, enrolledCode: String?) -> ErrorBody? {
        guard principal.kind == .agent else {
            return ErrorBody(.notAnAgent, "this key belongs to a \(principal.kind.rawValue)")
        }
        switch principal.state {
        case .disabled: return ErrorBody(.agentDisabled, "agent \(principal.identity) is disabled")
        case .revoked: return ErrorBody(.agentRevoked, "agent \(principal.identity) is revoked")
        case .active: break
        }
        guard enrolledCode == hello.agentCode else {
            return ErrorBody(
                .agentCodeMismatch,
                "this key is enrolled as agent \(principal.identity) with code \(enrolledCode ?? "?"), not \(SafeText.clean(hello.agentCode, limit: 64))"
            )
        }
        return nil
    }
}
