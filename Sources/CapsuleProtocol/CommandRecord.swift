import CapsuleDomain
import Foundation

/// A command as the broker stores and reports it.
package struct CommandRecord: Sendable, Hashable, Codable {
    package var id: String
    package var serviceCode: String
    package var agentId: String
    package var action: String
    /// The payload, redacted. The raw payload the agent receives is stored only sealed, until the
    /// command is terminal.
    package var payload: JSONValue
    package var status: CommandStatus
    package var actor: String
    package var createdAt: Date
    package var updatedAt: Date
    package var expiresAt: Date
    package var success: Bool?
    package var message: String?
    package var data: JSONValue?
    package var errorCode: String?
    package var errorMessage: String?
    package var deliveries: Int

    package init(
        id: String, serviceCode: String, agentId: String, action: String, payload: JSONValue, status: CommandStatus,
        actor: String, createdAt: Date, updatedAt: Date, expiresAt: Date, success: Bool? = nil, message: String? = nil,
        data: JSONValue? = nil, errorCode: String? = nil, errorMessage: String? = nil, deliveries: Int = 0
    ) {
        self.id = id
        self.serviceCode = serviceCode
        self.agentId = agentId
        self.action = action
        self.payload = payload
        self.status = status
        self.actor = actor
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.expiresAt = expiresAt
        self.success = success
        self.message = message
        self.data = data
        self.errorCode = errorCode
        self.errorMessage = errorMessage
        self.deliveries = deliveries
    }
}
