import ArgumentParser
import CapsuleDaemon
import CapsuleDomain
import CapsuleProtocol
import CapsuleRuntime
import Foundation

struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "One row per service: effective status, latest health, agent and reason."
    )

    @OptionGroup var options: CTLOptions

    @Option(help: "Only services with this effective status (HEALTHY, UNHEALTHY, STALE, OFFLINE, UNKNOWN).")
    var status: String?

    @Option(help: "Only the services of this agent (agentId or agent code).")
    var agent: String?

    @Option(help: "Only service codes starting with this.")
    var prefix: String?

    @Flag(help: "Only the counts per effective status and per agent status.")
    var summary = false

    @Flag(
        name: [.customShort("w"), .long],
        help: "Keep watching: redraw when anything changes (Ctrl-C to stop; --timeout ends it)."
    )
    var watch = false

    @Option(help: "With --watch: seconds between looks (default 1).")
    var interval: Double = 1

    func validate() throws {
        if let status, EffectiveStatus(rawValue: status.uppercased()) == nil {
            throw ValidationError(
                "unknown status \(status); use one of \(EffectiveStatus.allCases.map(\.rawValue).joined(separator: ", "))"
            )
        }
        guard interval >= 0.2 else { throw ValidationError("--interval must be at least 0.2 seconds") }
    }

    func run() throws {
        try guarded {
            let client = try CTLClient(options: options)
            guard watch else { return printLine(try render(client)) }
            // Redraw only on change; a terminal gets the screen cleared, a pipe or file one block (or
            // one JSON document per line with -o json) per change.
            let deadline = options.timeout.map { Date().addingTimeInterval($0) }
            let terminal = isatty(STDOUT_FILENO) == 1
            var last: String?
            while deadline.map({ $0 > Date() }) ?? true {
                let text = try render(client, compact: options.format == .json)
                if text != last {
                    if terminal && !options.json {
                        print("\u{1b}[H\u{1b}[2J", terminator: "")
                        printLine(
                            "Every \(Self.seconds(interval)): capsulectl status    \(Table.timestamp(Date()))\n\n"
                                + text
                        )
                    } else {
                        printLine(last == nil || options.json ? text : "\n" + text)
                    }
                    last = text
                }
                let pause = min(interval, deadline.map { max(0, $0.timeIntervalSinceNow) } ?? interval)
                if pause > 0 { Thread.sleep(forTimeInterval: pause) }
            }
        }
    }

    static func seconds(_ value: Double) -> String { value == value.rounded() ? "\(Int(value))s" : "\(value)s" }

    /// One look at the fleet, as this output format shows it.
    private func render(_ client: CTLClient, compact: Bool = false) throws -> String {
        if summary {
            let counts = try client.call(AggregatorOps.StatusSummaryOp.self, NoParams())
            if options.json { return compact ? JSONOutput.line(counts) : options.render(counts) }
            return Self.summaryLine(counts)
        }
        var rows: [ServiceStatusRow] = []
        let params = AggregatorOps.StatusList.Params(
            status: status.flatMap { EffectiveStatus(rawValue: $0.uppercased()) },
            agent: agent,
            prefix: prefix,
            limit: PageCursor.maxLimit
        )
        try client.pages(AggregatorOps.StatusList.self, params, cursor: \.cursor) { rows += $0 }
        if options.json { return compact ? JSONOutput.line(rows) : options.render(rows) }
        if rows.isEmpty {
            return status == nil && agent == nil && prefix == nil
                ? "No services have reported yet." : "No services match."
        }
        return Self.table.render(rows, wide: options.wide, headers: !options.noHeaders)
    }

    static var table: TableView<ServiceStatusRow> {
        TableView<ServiceStatusRow>()
            .column("SERVICE") { $0.code }
            .column("NAME", wide: true) { $0.name ?? "-" }
            .column("STATUS") { $0.status }
            .column("HEALTH") { $0.healthStatus ?? "-" }
            .column("HEALTH MESSAGE", wide: true) { $0.healthMessage ?? "-" }
            .column("AGENT") { $0.agentCode ?? $0.agentId }
            .column("AGENT ID", wide: true) { $0.agentId }
            .column("AGENT STATUS") { $0.agentStatus ?? "-" }
            .column("LAST HEARTBEAT") { Table.ago($0.lastHeartbeatAt) }
            .column("CHANGED", wide: true) { Table.timestamp($0.changedAt) }
            .column("REASON") { $0.reason }
    }
}

extension StatusCommand {
    /// `services: 17998 HEALTHY, 2 OFFLINE · agents: 8999 ONLINE, 1 OFFLINE` (zeros left out).
    static func summaryLine(_ counts: StatusSummary) -> String {
        func part(_ values: [String: Int], order: [String]) -> String {
            let shown = order.compactMap { key in values[key].flatMap { $0 > 0 ? "\($0) \(key)" : nil } }
            return shown.isEmpty ? "none" : shown.joined(separator: ", ")
        }
        return
            "services: \(counts.totalServices) (\(part(counts.services, order: EffectiveStatus.allCases.map(\.rawValue)))) · "
            + "agents: \(counts.totalAgents) (\(part(counts.agents, order: AgentStatus.allCases.map(\.rawValue))))"
    }
}

struct AgentsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "agents", abstract: "List agents and their status.")

    @OptionGroup var options: CTLOptions

    func run() throws {
        try guarded {
            let client = try CTLClient(options: options)
            var rows: [AgentRow] = []
            try client.pages(AggregatorOps.AgentsList.self, .init(limit: PageCursor.maxLimit), cursor: \.cursor) {
                rows += $0
            }
            if options.json {
                printLine(options.render(rows))
                return
            }
            let view = TableView<AgentRow>()
                .column("AGENT") { $0.agentId }
                .column("CODE") { $0.code }
                .column("STATUS") { $0.status }
                .column("LAST HEARTBEAT") { Table.ago($0.lastHeartbeatAt) }
                .column("HEARTBEAT AT", wide: true) { Table.timestamp($0.lastHeartbeatAt) }
                .column("SERVICES") { $0.services.joined(separator: ",") }
                .column("REASON") { $0.reason }
            printLine(view.render(rows, wide: options.wide, headers: !options.noHeaders))
        }
    }
}

struct ServiceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "service",
        abstract: "Inspect or decommission services.",
        subcommands: [Show.self, Forget.self]
    )

    struct Forget: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "forget",
            abstract: "Decommission a service: the broker and the aggregator forget it (audited)."
        )
        @OptionGroup var options: CTLOptions
        @Argument(help: "The service code.", completion: Completions.serviceCodes) var code: String

        func run() throws {
            try guarded {
                _ = try CTLClient(options: options).call(BrokerOps.ServiceForget.self, .init(code: code))
                printLine("FORGOTTEN  service \(code)")
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "show",
            abstract: "A service's manifest, latest health message and details, configs and actions."
        )

        @OptionGroup var options: CTLOptions

        @Argument(help: "The service code.", completion: Completions.serviceCodes)
        var code: String

        func run() throws {
            try guarded {
                let client = try CTLClient(options: options)
                let detail = try client.call(AggregatorOps.ServiceShow.self, .init(code: code))
                if options.json {
                    printLine(options.render(detail))
                    return
                }
                let row = detail.status
                var lines = [
                    "Service:        \(row.code)"
                        + (detail.manifest.map { " (\($0.name) \($0.version), \($0.runtime))" } ?? ""),
                    "Status:         \(row.status) — \(row.reason)",
                    "Health:         \(row.healthStatus ?? "-")" + (row.healthMessage.map { " — \($0)" } ?? "")
                        + "  (\(Table.ago(row.healthAt)))",
                    "Agent:          \(row.agentCode ?? "-") \(row.agentId) \(row.agentStatus ?? "-"), last heartbeat \(Table.ago(row.lastHeartbeatAt))",
                ]
                if let details = detail.healthDetails { lines.append("Health details: \(details.compactText)") }
                if let manifest = detail.manifest {
                    lines.append("Configs:")
                    for item in manifest.configs {
                        let value =
                            item.sensitive
                            ? "(sensitive, secretRef \(item.secretRef ?? "-"))" : (item.value?.compactText ?? "-")
                        lines.append("  \(item.key) = \(value)")
                    }
                    if manifest.configs.isEmpty { lines.append("  (none)") }
                    lines.append("Actions:")
                    for action in manifest.actions {
                        let confirm = action.requiresConfirmation ? ", needs --confirm" : ""
                        lines.append(
                            "  \(action.name) [\(action.dangerLevel.rawValue)\(confirm)] \(action.label) — \(action.description)"
                        )
                        if let schema = action.inputSchema { lines.append("    input: \(schema.compactText)") }
                    }
                    if manifest.actions.isEmpty { lines.append("  (none)") }
                } else {
                    lines.append("Manifest:       not reported yet")
                }
                printLine(lines.joined(separator: "\n"))
            }
        }
    }
}
