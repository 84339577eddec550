package import CapsuleDomain
package import Foundation

/// `command.dispatch`: the broker pushes a command to the agent that owns the service.
package struct CommandDispatch: Codable, Sendable, Hashable {
    package var commandId: String
    package var serviceCode: String
    package var action: String
    package var payload: JSONValue
    package var expiresAt: Date

    package init(commandId: String, serviceCode: String, action: String, payload: JSONValue, expiresAt: Date) {
        self.commandId = commandId
        self.serviceCode = serviceCode
        self.action = action
        self.payload = payload
        self.expiresAt = expiresAt
    }
}
