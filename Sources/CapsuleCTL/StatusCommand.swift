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

    func validate() throws {
        if let status, EffectiveStatus(rawValue: status.uppercased()) == nil {
            throw ValidationError("unknown status \(status); use one of \(EffectiveStatus.allCases.map(\.rawValue).joined(separator: ", "))")
        }
    }

    func run() throws {
        try guarded {
            let client = try CTLClient(options: options)
            var rows = try client.call([ServiceStatusRow].self, "aggregator", "status.list")
            if let status { rows = rows.filter { $0.status == status.uppercased() } }
            if options.json {
                printLine(JSONOutput.render(rows))
                return
            }
            if rows.isEmpty {
                printLine("No services have reported yet.")
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

struct AgentsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "agents", abstract: "List agents and their status.")

    @OptionGroup var options: CTLOptions

    func run() throws {
        try guarded {
            let client = try CTLClient(options: options)
            let rows = try client.call([AgentRow].self, "aggregator", "agents.list")
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
    static let configuration = CommandConfiguration(commandName: "service", abstract: "Inspect services.", subcommands: [Show.self])

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "show", abstract: "A service's manifest, latest health message and details, configs and actions.")

        @OptionGroup var options: CTLOptions

        @Argument(help: "The service code.")
        var code: String

        func run() throws {
            try guarded {
                let client = try CTLClient(options: options)
                let detail = try client.call(ServiceDetail.self, "aggregator", "service.show", .object(["code": .string(code)]))
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
