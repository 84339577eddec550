import Foundation

/// Someone holding an enrolled CURVE key: an agent, an internal service or an operator.
package struct Principal: Sendable, Hashable, Codable {
    package enum Kind: String, Sendable, Hashable, Codable {
        case agent, service, `operator`
    }

    /// Operator roles, weakest first.
    package enum Role: String, Sendable, Hashable, Codable, CaseIterable, Comparable {
        case viewer, `operator`, owner

        package static func < (lhs: Role, rhs: Role) -> Bool {
            allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
        }
    }

    /// Administrative state of the key.
    package enum State: String, Sendable, Hashable, Codable {
        case active = "ACTIVE"
        case disabled = "DISABLED"
        case revoked = "REVOKED"
    }

    package var publicKey: String
    package var kind: Kind
    /// agentId for agents, the service name (`aggregator`, `audit`) or the operator's name.
    package var identity: String
    package var role: Role?
    package var state: State
    package var createdAt: Date

    package init(publicKey: String, kind: Kind, identity: String, role: Role? = nil, state: State = .active, createdAt: Date) {
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
}
