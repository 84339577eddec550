import ArgumentParser
import CapsuleDaemon
import CapsuleDomain
import CapsuleProtocol
import CapsuleRuntime
import Foundation

struct CommandsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "commands",
        abstract: "List recent commands, newest first."
    )

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
            throw ValidationError(
                "unknown status \(status); use one of \(CommandStatus.allCases.map(\.rawValue).joined(separator: ", "))"
            )
        }
        guard limit > 0 else { throw ValidationError("--limit must be positive") }
    }

    func run() throws {
        try guarded {
            let client = try CTLClient(options: options)
            var rows: [CommandRecord] = []
            var params = BrokerOps.CommandList.Params(
                status: status.flatMap { CommandStatus(rawValue: $0.uppercased()) },
                service: service,
                agent: agent,
                limit: min(limit, PageCursor.maxLimit)
            )
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
