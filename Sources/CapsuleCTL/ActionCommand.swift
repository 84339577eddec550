import ArgumentParser
import CapsuleDomain
import CapsuleProtocol
import CapsuleRuntime
import Foundation

struct ActionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "action", abstract: "Run declared actions.", subcommands: [Run.self])

    struct Run: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "run", abstract: "Run an action and wait for its result. Exits 0 only when it SUCCEEDED.")

        @OptionGroup var options: CTLOptions

        @Argument(help: "The service code.")
        var service: String

        @Argument(help: "The action name.")
        var action: String

        @Option(help: "The action's input, as a JSON object.")
        var payload: String?

        @Flag(help: "Confirm an action that requires confirmation.")
        var confirm = false

        @Flag(help: "Return once the command is created, without waiting for its result.")
        var noWait = false

        func run() throws {
            try guarded {
                var body: JSONValue = .object([:])
                if let payload {
                    do {
                        body = try JSONValue.parse(payload)
                    } catch {
                        throw ErrorBody(code: "bad_payload", message: "--payload is not valid JSON: \(payload.prefix(80))")
                    }
                }
                let client = try CTLClient(options: options)
                var command = try client.call(CommandRecord.self, "broker", "command.create", .object([
                    "service": .string(service), "action": .string(action), "payload": body, "confirm": .bool(confirm),
                ]))
                if !noWait {
                    while !command.status.isTerminal {
                        Thread.sleep(forTimeInterval: 0.2)
                        command = try client.call(CommandRecord.self, "broker", "command.get", .object(["id": .string(command.id)]))
                    }
                }
                if options.json {
                    printLine(JSONOutput.render(command))
                } else {
                    var line = "\(command.status.rawValue)  \(command.id)  \(command.serviceCode) \(command.action)"
                    if let message = command.message { line += "  \(message)" }
                    if let code = command.errorCode { line += "  error \(code): \(command.errorMessage ?? "")" }
                    printLine(line)
                    if let data = command.data { printLine(data.compactText) }
                }
                if command.status.isTerminal && command.status != .succeeded { throw ExitCode(1) }
            }
        }
    }
}

struct CommandsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "commands", abstract: "List recent commands, newest first.")

    @OptionGroup var options: CTLOptions

    @Option(help: "Only commands with this status.")
    var status: String?

    @Option(help: "At most this many.")
    var limit = 50

    func validate() throws {
        if let status, CommandStatus(rawValue: status.uppercased()) == nil {
            throw ValidationError("unknown status \(status); use one of \(CommandStatus.allCases.map(\.rawValue).joined(separator: ", "))")
        }
    }

    func run() throws {
        try guarded {
            let client = try CTLClient(options: options)
            var params: [String: JSONValue] = ["limit": .number(Double(limit))]
            if let status { params["status"] = .string(status.uppercased()) }
            let rows = try client.call([CommandRecord].self, "broker", "command.list", .object(params))
            if options.json {
                printLine(JSONOutput.render(rows))
                return
            }
            printLine(Table.render(
                ["COMMAND", "STATUS", "SERVICE", "ACTION", "ACTOR", "CREATED", "MESSAGE"],
                rows.map { [$0.id, $0.status.rawValue, $0.serviceCode, $0.action, $0.actor, Table.ago($0.createdAt),
                            $0.errorMessage ?? $0.message ?? ""] }
            ))
        }
    }
}

struct CommandCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "command", abstract: "Inspect or cancel one command.",
                                                    subcommands: [Show.self, Cancel.self])

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "show", abstract: "Show one command.")
        @OptionGroup var options: CTLOptions
        @Argument(help: "The command id.") var id: String

        func run() throws {
            try guarded {
                let command = try CTLClient(options: options).call(CommandRecord.self, "broker", "command.get", .object(["id": .string(id)]))
                printLine(JSONOutput.render(command))
            }
        }
    }

    struct Cancel: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "cancel", abstract: "Cancel a command that is not yet terminal.")
        @OptionGroup var options: CTLOptions
        @Argument(help: "The command id.") var id: String

        func run() throws {
            try guarded {
                let command = try CTLClient(options: options).call(CommandRecord.self, "broker", "command.cancel", .object(["id": .string(id)]))
                printLine(options.json ? JSONOutput.render(command) : "\(command.status.rawValue)  \(command.id)")
            }
        }
    }
}
