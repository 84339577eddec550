import ArgumentParser
import CapsuleDaemon
import CapsuleDomain
import CapsuleProtocol
import CapsuleRuntime
import Foundation

struct CommandCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "command",
        abstract: "Inspect, cancel or retry one command.",
        subcommands: [Show.self, Cancel.self, Retry.self]
    )

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "show", abstract: "Show one command.")
        @OptionGroup var options: CTLOptions
        @Argument(help: "The command id.", completion: Completions.commandIds) var id: String

        func run() throws {
            try guarded {
                let command = try CTLClient(options: options).call(BrokerOps.CommandGet.self, .init(id: id))
                if options.json { return printLine(options.render(command)) }
                var lines = [
                    "Command:   \(command.id)" + (command.retryOf.map { " (retry of \($0))" } ?? ""),
                    "Status:    \(command.status.rawValue)",
                    "Service:   \(command.serviceCode)  action \(command.action)  agent \(command.agentId)",
                    "Actor:     \(command.actor)",
                    "Created:   \(Table.timestamp(command.createdAt))  expires \(Table.timestamp(command.expiresAt))",
                ]
                if let started = command.startedAt { lines.append("Started:   \(Table.timestamp(started))") }
                if let completed = command.completedAt {
                    lines.append(
                        "Completed: \(Table.timestamp(completed))" + (command.durationMs.map { "  (\($0) ms)" } ?? "")
                    )
                }
                lines.append("Delivered: \(command.deliveries) time(s)")
                lines.append("Payload:   \(command.payload.compactText)")
                if let message = command.message { lines.append("Message:   \(message)") }
                if let code = command.errorCode { lines.append("Error:     \(code): \(command.errorMessage ?? "")") }
                if let data = command.data { lines.append("Data:      \(data.compactText)") }
                if let secret = command.oneTime {
                    lines.append("One-time:  \(secret.compactText)  (shown once, not stored)")
                }
                printLine(lines.joined(separator: "\n"))
            }
        }
    }

    struct Cancel: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "cancel",
            abstract: "Cancel a command that is not yet terminal."
        )
        @OptionGroup var options: CTLOptions
        @Argument(help: "The command id.", completion: Completions.commandIds) var id: String

        func run() throws {
            try guarded {
                let command = try CTLClient(options: options).call(BrokerOps.CommandCancel.self, .init(id: id))
                printLine(options.json ? options.render(command) : "\(command.status.rawValue)  \(command.id)")
            }
        }
    }

    struct Retry: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "retry",
            abstract:
                "Run a command's action again with the same payload (secret payload fields must be given again with action run)."
        )
        @OptionGroup var options: CTLOptions
        @Argument(help: "The command id.", completion: Completions.commandIds) var id: String
        @Flag(help: "Confirm an action that requires confirmation.") var confirm = false
        @Flag(help: "Return once the new command is created.") var noWait = false

        func run() throws {
            try guarded {
                let client = try CTLClient(options: options)
                let created = try client.call(BrokerOps.CommandRetry.self, .init(id: id, confirm: confirm))
                let command =
                    noWait
                    ? created
                    : try CommandWaiting.untilTerminal(client, created, timeout: options.waitTimeout(for: created))
                try CommandOutput.show(command, options: options)
            }
        }
    }
}
