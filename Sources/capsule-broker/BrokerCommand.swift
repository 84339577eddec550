import ArgumentParser
import CapsuleBroker
import CapsuleDaemon
import CapsuleDomain
import CapsulePostgres
import CapsuleRuntime
import CapsuleStore
import Foundation

@main
struct BrokerCommand: AsyncParsableCommand {
    static func main() async { Foundation.exit(await runWithConfig()) }

    static let configuration = CommandConfiguration(
        commandName: "capsule-broker",
        abstract:
            "Authenticates agents, operators and internal services, checks and forwards reports, routes requests and commands.",
        version: VersionText.make("capsule-broker", schemas: [("broker", BrokerStore.schemaVersion)])
    )

    @OptionGroup var daemon: DaemonOptions

    @Option(help: "Bind address for the ingest endpoint (XSUB).")
    var ingestBind = "tcp://127.0.0.1:7401"

    @Option(help: "Bind address for the internal bus (XPUB).")
    var busBind = "tcp://127.0.0.1:7402"

    @Option(help: "Bind address for the router (ROUTER).")
    var routerBind = "tcp://127.0.0.1:7403"

    @Option(help: "Host name written to broker.json for clients, when binding to * or 0.0.0.0.")
    var advertiseHost = "127.0.0.1"

    @Option(
        help:
            "Default command time to live in seconds (an action's timeoutSeconds overrides it); stored in the settings at the first start."
    )
    var commandTtlSeconds: Double = 300

    @Option(
        help:
            "Days of audit trail to keep (0: forever); stored in the settings at the first start, applied by the audit writer."
    )
    var retentionDays = 90

    @Option(help: "Largest accepted message in bytes; larger ones are dropped and counted.")
    var maxMessageBytes = 256 * 1024

    @Option(help: "Messages per second one peer may send before excess is dropped and audited.")
    var maxMessagesPerSecond: Double = 200

    @Option(help: "Burst of messages a peer may send above its rate.")
    var burstMessages: Double = 400

    @Option(
        help:
            "Trust an internal service (aggregator, audit, or a bus reader such as a benchmark probe): NAME=KEY, KEY being Z85 text or a .pub/.key file (repeatable)."
    )
    var trustService: [String] = []

    @Option(
        help:
            "Where the store is: postgres://user@host:port/database (PostgreSQL, shared by brokers that fail over), or sqlite:DIRECTORY. Default: the SQLite file in the home's data folder. Also CAPSULE_STORE."
    )
    var store: String?

    @Option(
        help:
            "Run as one broker of a pair sharing the --store PostgreSQL database: the active one holds a lease that lapses after this many seconds unrenewed; the other stands by and takes over (docs/reliability.md)."
    )
    var leaseSeconds: Double?

    @Flag(
        help:
            "If the store file is empty or unreadable, move it aside and start a new, empty one (a new journal incarnation) instead of refusing to start."
    )
    var initStore = false

    @Option(
        help:
            "libzmq I/O threads: they carry the CURVE handshakes and all socket traffic; 2 lets a reconnecting fleet's handshakes use two cores (docs/deployment.md, \"Sizing a broker host\")."
    )
    var ioThreads: Int32 = 1

    @Option(help: "Serve Prometheus metrics on HOST:PORT at /metrics, or off.")
    var metricsBind = "127.0.0.1:9401"

    func validate() throws {
        for entry in trustService {
            let parts = entry.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, Identifier.isValid(parts[0]) else {
                throw ValidationError("--trust-service takes NAME=KEY (NAME such as aggregator or audit), got \(entry)")
            }
        }
        guard maxMessagesPerSecond > 0, burstMessages >= 1 else { throw ValidationError("rates must be positive") }
        guard (1...16).contains(ioThreads) else { throw ValidationError("--io-threads must be between 1 and 16") }
        guard retentionDays >= 0 else { throw ValidationError("--retention-days must be 0 (keep forever) or more") }
        try MetricsListener.validate(metricsBind)
        if let leaseSeconds, !(0.5...600).contains(leaseSeconds) {
            throw ValidationError("--lease-seconds must be between 0.5 and 600")
        }
    }

    func run() async throws {
        let logger = daemon.log.bootstrap(label: "capsule.broker")
        let metrics = try MetricsListener.from(metricsBind, program: "capsule-broker")
        let configuration = BrokerConfiguration(
            home: daemon.connect.capsuleHome,
            ingestBind: ingestBind,
            busBind: busBind,
            routerBind: routerBind,
            advertiseHost: advertiseHost,
            thresholds: daemon.thresholds,
            commandTTLSeconds: commandTtlSeconds,
            maxMessageBytes: maxMessageBytes,
            maxMessagesPerSecond: maxMessagesPerSecond,
            burstMessages: burstMessages,
            trustedServiceKeys: try Dictionary(
                trustService.map { entry in
                    let parts = entry.split(separator: "=", maxSplits: 1).map(String.init)
                    return (parts[0], try KeyFile.readPublicKey(parts[1]))
                },
                uniquingKeysWith: { _, last in last }
            ),
            retentionDays: retentionDays,
            ioThreads: ioThreads,
            initializeStore: initStore,
            store: try StoreOpener.resolve(
                store,
                defaultDirectory: daemon.connect.capsuleHome.dataDirectory,
                applicationName: "capsule-broker"
            ),
            leaseSeconds: leaseSeconds
        )
        let service = try Broker.makeService(configuration: configuration, logger: logger)
        try await DaemonRunner.run(
            service,
            program: "capsule-broker",
            metrics: metrics,
            logger: logger,
            readyStatus: "routing on \(routerBind)"
        )
    }
}
