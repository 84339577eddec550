package import CapsuleDomain
import Foundation

/// `command.result`: what the handler returned.
package struct CommandResult: Codable, Sendable, Hashable {
    package var commandId: String
    package var success: Bool
    package var message: String?
    package var data: JSONValue?
    package var error: ErrorBody?

    package init(
        commandId: String,
        success: Bool,
        message: String? = nil,
        data: JSONValue? = nil,
        error: ErrorBody? = nil
    ) {
        self.commandId = commandId
        self.success = success
        self.message = message
        self.data = data
        self.error = error
    }
}
