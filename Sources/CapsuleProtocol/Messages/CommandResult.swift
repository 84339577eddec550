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

extension CommandResult: JSONValueDecodable {
    /// The result from its fields, read as `init(from:)` reads it: the broker reads one per command.
    package init(fields json: some JSONFields) throws(JSONFieldError) {
        commandId = try json.string("commandId")
        success = try json.bool("success")
        message = try json.optionalString("message")
        data = json.member("data")
        error = try json.member("error").map { value throws(JSONFieldError) in try ErrorBody(fields: value) }
    }
}
