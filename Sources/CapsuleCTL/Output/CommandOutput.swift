import ArgumentParser
import CapsuleDaemon
import CapsuleDomain
import CapsuleProtocol
import CapsuleRuntime
import Foundation

/// How one command is printed, for `action run`, `command show`, `retry` and `cancel`.
enum CommandOutput {
    static func show(_ command: CommandRecord, options: CTLOptions) throws {
        if options.json {
            printLine(options.render(command))
        } else {
            var line = "\(command.status.rawValue)  \(command.id)  \(command.serviceCode) \(command.action)"
            if let message = command.message { line += "  \(message)" }
            if let code = command.errorCode { line += "  error \(code): \(command.errorMessage ?? "")" }
            printLine(line)
            if let data = command.data { printLine(data.compactText) }
            if let secret = command.oneTime {
                printLine("one-time fields (shown once, not stored): \(secret.compactText)")
            }
        }
        if command.status.isTerminal && command.status != .succeeded { throw ExitCode(1) }
    }
}
