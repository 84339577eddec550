import CapsuleDomain
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
