import ArgumentParser
import CapsuleDomain
import CapsuleProtocol
import CapsuleRuntime
import Foundation

struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "One row per service: effective status, latest health, agent and reason.")

    @OptionGroup var options: CTLOptions

    @Option(help: "Only services with this effective status (HEALTHY, UNHEALTHY, STALE, OFFLINE, UNKNOWN).")
    var status: String?

    @Option(help: "Only the services of this agent (agentId or agent code).")
    var agent: String?

    @Option(help: "Only service codes starting with this.")
    var prefix: String?

    @Flag(help: "Only the counts per effective status and per agent status.")
    var summary = false

    func validate() throws {
        if let status, EffectiveStatus(rawValue: status.uppercased()) == nil {
            throw ValidationError("unknown status \(status); use one of \(EffectiveStatus.allCases.map(\.rawValue).joined(separator: ", "))")
        }
    }

    func run() throws {
        try guarded {
            let client = try CTLClient(options: options)
            if summary {
                let counts = try client.call(AggregatorOps.StatusSummaryOp.self, NoParams())
                if options.json { return printLine(JSONOutput.render(counts)) }
                printLine(Self.summaryLine(counts))
                return
            }
            var rows: [ServiceStatusRow] = []
            let params = AggregatorOps.StatusList.Params(status: status.flatMap { EffectiveStatus(rawValue: $0.uppercased()) }, agent: agent,
                                                         prefix: prefix, limit: PageCursor.maxLimit)
            try client.pages(AggregatorOps.StatusList.self, params, cursor: \.cursor) { rows += $0 }
            if options.json {
                printLine(JSONOutput.render(rows))
                return
            }
            if rows.isEmpty {
                printLine(status == nil && agent == nil && prefix == nil ? "No services have reported yet." : "No services match.")
                return
            }
            printLine(Table.render(
                ["SERVICE", "STATUS", "HEALTH", "AGENT", "AGENT STATUS", "LAST HEARTBEAT", "REASON"],
                rows.map {
                    [$0.code, $0.status, $0.healthStatus ?? "-", $0.agentCode ?? $0.agentId, $0.agentStatus ?? "-",
                     Table.ago($0.lastHeartbeatAt), $0.reason]
                }
            ))
        }
    }
}

extension StatusCommand {
    /// `services: 17998 HEALTHY, 2 OFFLINE · agents: 8999 ONLINE, 1 OFFLINE` (zeros left out).
    static func summaryLine(_ counts: StatusSummary) -> String {
        func part(_ values: [String: Int], order: [String]) -> String {
            let shown = order.compactMap { key in values[key].flatMap { $0 > 0 ? "\($0) \(key)" : nil } }
            return shown.isEmpty ? "none" : shown.joined(separator: ", ")
        }
        return "services: \(counts.totalServices) (\(part(counts.services, order: EffectiveStatus.allCases.map(\.rawValue)))) · "
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
            try client.pages(AggregatorOps.AgentsList.self, .init(limit: PageCursor.maxLimit), cursor: \.cursor) { rows += $0 }
            if options.json {
                printLine(JSONOutput.render(rows))
                return
            }
            printLine(Table.render(
                ["AGENT", "CODE", "STATUS", "LAST HEARTBEAT", "SERVICES", "REASON"],
                rows.map { [$0.agentId, $0.code, $0.status, Table.ago($0.lastHeartbeatAt), $0.services.joined(separator: ","), $0.reason] }
            ))
        }
    }
}

struct ServiceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "service", abstract: "Inspect or decommission services.",
                                                    subcommands: [Show.self, Forget.self])

    struct Forget: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "forget", abstract: "Decommission a service: the broker and the aggregator forget it (audited).")
        @OptionGroup var options: CTLOptions
        @Argument(help: "The service code.") var code: String

        func run() throws {
            try guarded {
                _ = try CTLClient(options: options).call(BrokerOps.ServiceForget.self, .init(code: code))
                printLine("FORGOTTEN  service \(code)")
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "show", abstract: "A service's manifest, latest health message and details, configs and actions.")

        @OptionGroup var options: CTLOptions

        @Argument(help: "The service code.")
        var code: String

        func run() throws {
            try guarded {
                let client = try CTLClient(options: options)
                let detail = try client.call(AggregatorOps.ServiceShow.self, .init(code: code))
                if options.json {
                    printLine(JSONOutput.render(detail))
                    return
                }
                let row = detail.status
                var lines = [
                    "Service:        \(row.code)" + (detail.manifest.map { " (\($0.name) \($0.version), \($0.runtime))" } ?? ""),
                    "Status:         \(row.status) — \(row.reason)",
                    "Health:         \(row.healthStatus ?? "-")" + (row.healthMessage.map { " — \($0)" } ?? "") + "  (\(Table.ago(row.healthAt)))",
                    "Agent:          \(row.agentCode ?? "-") \(row.agentId) \(row.agentStatus ?? "-"), last heartbeat \(Table.ago(row.lastHeartbeatAt))",
                ]
                if let details = detail.healthDetails { lines.append("Health details: \(details.compactText)") }
                if let manifest = detail.manifest {
                    lines.append("Configs:")
                    for item in manifest.configs {
                        let value = item.sensitive ? "(sensitive, secretRef \(item.secretRef ?? "-"))" : (item.value?.compactText ?? "-")
                        lines.append("  \(item.key) = \(value)")
                    }
                    if manifest.configs.isEmpty { lines.append("  (none)") }
                    lines.append("Actions:")
                    for action in manifest.actions {
                        let confirm = action.requiresConfirmation ? ", needs --confirm" : ""
                        lines.append("  \(action.name) [\(action.dangerLevel.rawValue)\(confirm)] \(action.label) — \(action.description)")
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
