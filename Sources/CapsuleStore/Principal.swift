package import CapsuleProtocol
package import Foundation

/// Someone holding an enrolled CURVE key: an agent, an internal service or an operator.
package struct Principal: Sendable, Hashable, Codable {
    package enum Kind: String, Sendable, Hashable, Codable {
        case agent, service, `operator`
    }

    package typealias Role = OperatorRole
    package typealias State = KeyState

    package var publicKey: String
    package var kind: Kind
    /// agentId for agents, the service name (`aggregator`, `audit`) or the operator's name.
    package var identity: String
    package var role: Role?
    package var state: State
    package var createdAt: Date

    package init(
        publicKey: String,
        kind: Kind,
        identity: String,
        role: Role? = nil,
        state: State = .active,
        createdAt: Date
    ) {
        self.publicKey = publicKey
        self.kind = kind
        self.identity = identity
        self.role = role
        self.state = state
        self.createdAt = createdAt
    }

    /// The `sender` this principal must put in every header.
    package var sender: String {
        switch kind {
        case .agent, .service: identity
        case .operator: "operator:\(identity)"
        }
    }

    /// How audit events name this principal as actor or subject: `agent:ID`, `operator:NAME`,
    /// `internal:NAME` (docs/protocol.md §12, "Names in events").
    package var auditName: String {
        switch kind {
        case .agent: "agent:\(identity)"
        case .service: "internal:\(identity)"
        case .operator: "operator:\(identity)"
        }
    }

    /// The caller as the operation policy sees it.
    package var caller: OperationPolicy.Caller {
        switch kind {
        case .operator: .operator(name: identity, role: role ?? .viewer)
        case .service, .agent: .internalService(identity)
        }
    }
}
