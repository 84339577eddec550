package import Foundation

/// An enrolled agent as the broker stores it (`agent.list`, `agent.disable` …).
package struct AgentRecord: Sendable, Hashable, Codable {
    package var id: String
    package var code: String
    package var publicKey: String
    package var state: KeyState
    package var createdAt: Date

    package init(id: String, code: String, publicKey: String, state: KeyState, createdAt: Date) {
        self.id = id
        self.code = code
        self.publicKey = publicKey
        self.state = state
        self.createdAt = createdAt
    }
}

/// An operator key and its role (`operator.list`).
package struct OperatorRecord: Sendable, Hashable, Codable {
    package var name: String
    package var role: OperatorRole
    package var state: KeyState
    package var publicKey: String
    package var createdAt: Date

    package init(name: String, role: OperatorRole, state: KeyState, publicKey: String, createdAt: Date) {
        self.name = name
        self.role = role
        self.state = state
        self.publicKey = publicKey
        self.createdAt = createdAt
    }
}
