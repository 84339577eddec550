import ArgumentParser
import CapsuleDaemon
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

        @Argument(help: "The service code.", completion: Completions.serviceCodes)
        var service: String

        @Argument(help: "The action name.", completion: Completions.actionNames)
        var action: String

        @Option(help: "The action's input, as a JSON object.")
        var payload: String?

        @Flag(help: "Confirm an action that requires confirmation.")
        var confirm = false

        @Flag(help: "Return once the command is created, without waiting for its result.")
        var noWait = false

        @Flag(help: "Refuse instead of queueing when the service's agent is not ONLINE.")
        var requireOnline = false

        func run() throws {
            try guarded {
                var body: JSONValue?
                if let payload {
                    do {
                        body = try JSONValue.parse(payload)
                    } catch {
                        throw ErrorBody(.badPayload, "--payload is not valid JSON: \(SafeText.clean(String(payload.prefix(80)), limit: 80))")
                    }
                }
                let client = try CTLClient(options: options)
                // One round trip when the agent is connected: the broker answers once the result is in.
                let wait = noWait ? nil : min(options.timeout ?? BrokerOps.CommandWait.maxSeconds, BrokerOps.CommandWait.maxSeconds)
                let created = try client.call(BrokerOps.CommandCreate.self, .init(
                    service: service, action: action, payload: body, confirm: confirm, requireOnline: requireOnline ? true : nil,
                    waitSeconds: wait), timeout: (wait ?? 0) + options.requestTimeout)
                if let queued = created.queued {
                    FileHandle.standardError.write(Data("capsulectl: warning: queued: \(queued); it runs when the agent is back, unless it expires first\n".utf8))
                }
                let command = noWait ? created : try CommandWaiting.untilTerminal(client, created, timeout: options.waitTimeout(for: created))
                try CommandOutput.show(command, options: options)
            }
        }
    }
}

/// Waits for a command without polling: `command.wait` is answered the moment the result is stored.
enum CommandWaiting {
    static func untilTerminal(_ client: CTLClient, _ command: CommandRecord, timeout: Double) throws -> CommandRecord {
        var command = command
        let deadline = Date().addingTimeInterval(timeout)
        while !command.status.isTerminal {
            let left = deadline.timeIntervalSinceNow
            guard left > 0 else {
                throw CTLError(.timedOut, "\(command.id) is still \(command.status.rawValue) after \(Int(timeout)) s; it may still finish (see capsulectl command show \(command.id), or capsulectl command cancel \(command.id))")
            }
            let wait = min(left, BrokerOps.CommandWait.maxSeconds)
            command = try client.call(BrokerOps.CommandWait.self, .init(id: command.id, timeoutSeconds: wait), timeout: wait + 5)
        }
        return command
    }
}

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

struct CommandsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "commands", abstract: "List recent commands, newest first.")

    @OptionGroup var options: CTLOptions

    @Option(help: "Only commands with this status.")
    var status: String?

    @Option(help: "Only commands for this service.")
    var service: String?

    @Option(help: "Only commands for this agent (agentId or agent code).")
    var agent: String?

    @Option(help: "At most this many.")
    var limit = 50

    func validate() throws {
        if let status, CommandStatus(rawValue: status.uppercased()) == nil {
            throw ValidationError("unknown status \(status); use one of \(CommandStatus.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard limit > 0 else { throw ValidationError("--limit must be positive") }
    }

    func run() throws {
        try guarded {
            let client = try CTLClient(options: options)
            var rows: [CommandRecord] = []
            var params = BrokerOps.CommandList.Params(status: status.flatMap { CommandStatus(rawValue: $0.uppercased()) }, service: service,
                                                      agent: agent, limit: min(limit, PageCursor.maxLimit))
            while rows.count < limit {
                let page = try client.call(BrokerOps.CommandList.self, params)
                rows += page.items.prefix(limit - rows.count)
                guard let next = page.next else { break }
                params.cursor = next
            }
            if options.json {
                printLine(options.render(rows))
                return
            }
            let view = TableView<CommandRecord>()
                .column("COMMAND") { $0.id }
                .column("STATUS") { $0.status.rawValue }
                .column("SERVICE") { $0.serviceCode }
                .column("ACTION") { $0.action }
                .column("AGENT", wide: true) { $0.agentId }
                .column("ACTOR") { $0.actor }
                .column("CREATED") { Table.ago($0.createdAt) }
                .column("CREATED AT", wide: true) { Table.timestamp($0.createdAt) }
                .column("DURATION", wide: true) { $0.durationMs.map { "\($0) ms" } ?? "-" }
                .column("RETRY OF", wide: true) { $0.retryOf ?? "-" }
                .column("MESSAGE") { $0.errorMessage ?? $0.message ?? "" }
            printLine(view.render(rows, wide: options.wide, headers: !options.noHeaders))
        }
    }
}

struct CommandCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "command", abstract: "Inspect, cancel or retry one command.",
                                                    subcommands: [Show.self, Cancel.self, Retry.self])

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
                    lines.append("Completed: \(Table.timestamp(completed))" + (command.durationMs.map { "  (\($0) ms)" } ?? ""))
                }
                lines.append("Delivered: \(command.deliveries) time(s)")
                lines.append("Payload:   \(command.payload.compactText)")
                if let message = command.message { lines.append("Message:   \(message)") }
                if let code = command.errorCode { lines.append("Error:     \(code): \(command.errorMessage ?? "")") }
                if let data = command.data { lines.append("Data:      \(data.compactText)") }
                if let secret = command.oneTime { lines.append("One-time:  \(secret.compactText)  (shown once, not stored)") }
                printLine(lines.joined(separator: "\n"))
            }
        }
    }

    struct Cancel: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "cancel", abstract: "Cancel a command that is not yet terminal.")
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
            abstract: "Run a command's action again with the same payload (secret payload fields must be given again with action run).")
        @OptionGroup var options: CTLOptions
        @Argument(help: "The command id.", completion: Completions.commandIds) var id: String
        @Flag(help: "Confirm an action that requires confirmation.") var confirm = false
        @Flag(help: "Return once the new command is created.") var noWait = false

        func run() throws {
            try guarded {
                let client = try CTLClient(options: options)
                let created = try client.call(BrokerOps.CommandRetry.self, .init(id: id, confirm: confirm))
                let command = noWait ? created : try CommandWaiting.untilTerminal(client, created, timeout: options.waitTimeout(for: created))
                try CommandOutput.show(command, options: options)
            }
        }
    }
}
