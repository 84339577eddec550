import ArgumentParser
import CapsuleDomain
import CapsuleProtocol
import CapsuleRuntime
import Foundation

struct SettingsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "settings", abstract: "Thresholds and retention, stored once by the broker and applied everywhere without restarts.",
        subcommands: [Get.self, Set.self])

    static func show(_ settings: Settings, options: CTLOptions) {
        if options.json { return printLine(JSONOutput.render(settings)) }
        printLine("""
            heartbeat-seconds:    \(settings.heartbeatSeconds)
            stale-seconds:        \(settings.staleSeconds)
            offline-seconds:      \(settings.offlineSeconds)
            command-ttl-seconds:  \(settings.commandTTLSeconds)
            retention-days:       \(settings.retentionDays)
            version:              \(settings.version)
            """)
    }

    struct Get: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "get", abstract: "Show the settings.")
        @OptionGroup var options: CTLOptions

        func run() throws {
            try guarded { SettingsCommand.show(try CTLClient(options: options).call(BrokerOps.SettingsGet.self, NoParams()), options: options) }
        }
    }

    struct Set: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "set", abstract: "Change settings (owner only; audited).")
        @OptionGroup var options: CTLOptions
        @Option(help: "Seconds between agent heartbeats (agents take it at their next welcome).") var heartbeatSeconds: Double?
        @Option(help: "Seconds without news before a service reads STALE.") var staleSeconds: Double?
        @Option(help: "Seconds without a heartbeat before an agent reads OFFLINE.") var offlineSeconds: Double?
        @Option(help: "Default command time to live in seconds.") var commandTtlSeconds: Double?
        @Option(help: "Days of audit trail to keep (0: forever).") var retentionDays: Int?

        func run() throws {
            try guarded {
                var change = SettingsChange()
                change.heartbeatSeconds = heartbeatSeconds
                change.staleSeconds = staleSeconds
                change.offlineSeconds = offlineSeconds
                change.commandTTLSeconds = commandTtlSeconds
                change.retentionDays = retentionDays
                guard heartbeatSeconds != nil || staleSeconds != nil || offlineSeconds != nil || commandTtlSeconds != nil || retentionDays != nil else {
                    throw ValidationError("name at least one setting to change, e.g. --stale-seconds 60")
                }
                SettingsCommand.show(try CTLClient(options: options).call(BrokerOps.SettingsSet.self, change), options: options)
            }
        }
    }
}

struct ClusterInfoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cluster-info", abstract: "The broker, aggregator and audit writer: connected, version, uptime and lag.")
    @OptionGroup var options: CTLOptions

    func run() throws {
        try guarded {
            let info = try CTLClient(options: options).call(BrokerOps.ClusterInfo.self, NoParams())
            if options.json { return printLine(JSONOutput.render(info)) }
            printLine(Table.render(["COMPONENT", "CONNECTED", "VERSION", "UP SINCE", "LAST SEEN", "LAG"], info.components.map {
                [$0.name, $0.connected ? "yes" : "no", $0.version ?? "-", Table.timestamp($0.startedAt), Table.ago($0.lastSeenAt),
                 $0.lag.map(String.init) ?? "-"]
            }))
            printLine("protocol v\(info.protocolVersion)")
        }
    }
}
