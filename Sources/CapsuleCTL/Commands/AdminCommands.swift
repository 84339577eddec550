import ArgumentParser
import CapsuleDaemon
import CapsuleDomain
import CapsuleProtocol
import CapsuleRuntime
import Foundation

struct SettingsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "settings",
        abstract: "Thresholds and retention, stored once by the broker and applied everywhere without restarts.",
        subcommands: [Get.self, Set.self]
    )

    static func show(_ settings: Settings, options: CTLOptions) {
        if options.json { return printLine(options.render(settings)) }
        printLine(
            """
            heartbeat-seconds:    \(settings.heartbeatSeconds)
            stale-seconds:        \(settings.staleSeconds)
            offline-seconds:      \(settings.offlineSeconds)
            command-ttl-seconds:  \(settings.commandTTLSeconds)
            retention-days:       \(settings.retentionDays)
            version:              \(settings.version)
            """
        )
    }

    struct Get: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "get", abstract: "Show the settings.")
        @OptionGroup var options: CTLOptions

        func run() throws {
            try guarded {
                SettingsCommand.show(
                    try CTLClient(options: options).call(BrokerOps.SettingsGet.self, NoParams()),
                    options: options
                )
            }
        }
    }

    struct Set: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "set",
            abstract: "Change settings (owner only; audited)."
        )
        @OptionGroup var options: CTLOptions
        @Option(help: "Seconds between agent heartbeats (agents take it at their next welcome).") var heartbeatSeconds:
            Double?
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
                guard
                    heartbeatSeconds != nil || staleSeconds != nil || offlineSeconds != nil || commandTtlSeconds != nil
                        || retentionDays != nil
                else {
                    throw ValidationError("name at least one setting to change, e.g. --stale-seconds 60")
                }
                SettingsCommand.show(
                    try CTLClient(options: options).call(BrokerOps.SettingsSet.self, change),
                    options: options
                )
            }
        }
    }
}

struct ClusterInfoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cluster-info",
        abstract: "The broker, aggregator and audit writer: connected, version, commit, schema, uptime and lag."
    )
    @OptionGroup var options: CTLOptions

    func run() throws {
        try guarded {
            let (broker, _) = try options.connect.resolveBroker()
            let info = try CTLClient(options: options).call(BrokerOps.ClusterInfo.self, NoParams())
            if options.json { return printLine(options.render(info)) }
            printLine(Self.render(info, router: broker.router, wide: options.wide, headers: !options.noHeaders))
            for component in info.components where !component.connected {
                FileHandle.standardError.write(
                    Data(
                        "capsulectl: warning: \(component.name) is not connected to the broker (is capsule-\(component.name) running and pointed at it?)\n"
                            .utf8
                    )
                )
            }
        }
    }

    static func render(_ info: ClusterInfo, router: String, wide: Bool, headers: Bool, now: Date = Date()) -> String {
        var lines = [
            "Broker:  \(router)  (protocol v\(info.protocolVersion))",
            "You:     \(info.caller ?? "?")" + (info.role.map { " (\($0))" } ?? ""),
            "Client:  capsulectl \(CapsuleVersion.described), protocol v\(WireCodec.version)",
            "",
        ]
        let view = TableView<ClusterInfo.Component>()
            .column("COMPONENT") { $0.name }
            .column("CONNECTED") { $0.connected ? "yes" : "no" }
            .column("VERSION") { $0.version ?? "-" }
            .column("COMMIT") { $0.commit ?? (($0.version == nil) ? "-" : "unknown") }
            .column("SCHEMA") { $0.schemaVersion ?? "-" }
            .column("UP") { $0.startedAt.map { uptime(now.timeIntervalSince($0)) } ?? "-" }
            .column("UP SINCE", wide: true) { Table.timestamp($0.startedAt) }
            .column("LAST SEEN") { Table.ago($0.lastSeenAt, now: now) }
            .column("LAG") { $0.lag.map(String.init) ?? "-" }
        lines.append(view.render(info.components, wide: wide, headers: headers))
        return lines.joined(separator: "\n")
    }

    /// `45s`, `12m`, `3h4m`, `2d5h`.
    static func uptime(_ seconds: Double) -> String {
        let total = max(0, Int(seconds))
        if total < 60 { return "\(total)s" }
        if total < 3_600 { return "\(total / 60)m" }
        if total < 86_400 { return "\(total / 3_600)h\(total % 3_600 / 60)m" }
        return "\(total / 86_400)d\(total % 86_400 / 3_600)h"
    }
}

struct VersionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "version",
        abstract: "This client's version, commit and protocol, and those of the running components."
    )
    @OptionGroup var options: CTLOptions
    @Flag(help: "Only this client's version; do not ask the broker.") var client = false

    struct Versions: Encodable {
        var client: ClusterInfo.Component
        var server: [ClusterInfo.Component]?
    }

    func run() throws {
        try guarded {
            let me = ClusterInfo.Component(
                name: "capsulectl",
                connected: true,
                version: CapsuleVersion.current,
                commit: CapsuleVersion.commit,
                protocolVersion: WireCodec.version
            )
            if client {
                if options.json { return printLine(options.render(Versions(client: me, server: nil))) }
                return printLine("Client: capsulectl \(CapsuleVersion.described), protocol v\(WireCodec.version)")
            }
            if !options.json {
                printLine("Client: capsulectl \(CapsuleVersion.described), protocol v\(WireCodec.version)")
            }
            let info = try CTLClient(options: options).call(BrokerOps.ClusterInfo.self, NoParams())
            if options.json { return printLine(options.render(Versions(client: me, server: info.components))) }
            for component in info.components {
                guard component.connected, let version = component.version else {
                    printLine("Server: \(component.name) not connected")
                    continue
                }
                let schema = component.schemaVersion.map { ", \(component.name) store schema \($0)" } ?? ""
                printLine(
                    "Server: \(component.name) \(version) (commit \(component.commit ?? "unknown")), protocol v\(component.protocolVersion ?? info.protocolVersion)\(schema)"
                )
            }
        }
    }
}
