package import CapsuleDomain
import Foundation

/// `command.ack`: the agent started the command. `command.cancel` uses the same shape plus a reason.
package struct CommandRef: Codable, Sendable, Hashable {
    package var commandId: String
    package var reason: String?

    package init(commandId: String, reason: String? = nil) {
        self.commandId = commandId
        self.reason = reason
    }
}

extension CommandRef: JSONValueDecodable {
    /// Read through ``JSONParser``: the broker reads one `command.ack` per command.
    package init(fields json: some JSONFields) throws(JSONFieldError) {
        commandId = try json.string("commandId")
        reason = try json.optionalString("reason")
    }
}
