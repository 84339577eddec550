import ArgumentParser
import CapsuleAudit
import CapsuleDaemon
import CapsulePostgres
import CapsuleRuntime
import CapsuleStore
import Foundation

@main
struct AuditCommand: AsyncParsableCommand {
    static func main() async { Foundation.exit(await runWithConfig()) }

    static let configuration = CommandConfiguration(
        commandName: "capsule-audit",
        abstract: "Persists every Capsule event exactly once and answers audit queries.",
        version: VersionText.make("capsule-audit", schemas: [("audit", AuditStore.schemaVersion)])
    )

    @OptionGroup var connect: ConnectOptions

    @OptionGroup var log: LogOptions

    @Option(help: "This audit writer's key file (default: keys/audit.key in the home).")
    var keyFile: String?

    @Option(
        help:
            "Days of audit trail to keep until the broker's settings are read (they win; see capsulectl settings); 0 keeps everything."
    )
    var retentionDays = 90

    @Option(
        help:
            "Where the store is: postgres://user@host:port/database (PostgreSQL, shared by brokers that fail over), or sqlite:DIRECTORY. Default: the SQLite file in the home's data folder. Also CAPSULE_STORE."
    )
    var store: String?

    @Flag(
        help:
            "If the store file is empty or unreadable, move it aside and start a new, empty one (a new journal incarnation) instead of refusing to start."
    )
    var initStore = false

    @Option(help: "Serve Prometheus metrics on HOST:PORT at /metrics, or off.")
    var metricsBind = "127.0.0.1:9403"

    func validate() throws {
        guard retentionDays >= 0 else { throw ValidationError("--retention-days must be 0 (keep forever) or more") }
        try MetricsListener.validate(metricsBind)
    }

    func run() async throws {
        let logger = log.bootstrap(label: "capsule.audit")
        let metrics = try MetricsListener.from(metricsBind, program: "capsule-audit")
        let home = connect.capsuleHome
        let (broker, brokerKey) = try connect.resolveBroker()
        let keyPair =
            try keyFile.map { try KeyFile.read(URL(fileURLWithPath: $0)) } ?? home.loadOrCreateKeyPair("audit")
        let service = try Audit.makeService(
            configuration: AuditConfiguration(
                home: home,
                broker: broker,
                brokerKey: brokerKey,
                keyPair: keyPair,
                retentionDays: retentionDays,
                initializeStore: initStore,
                store: try StoreOpener.resolve(
                    store,
                    defaultDirectory: home.dataDirectory,
                    applicationName: "capsule-audit"
                )
            ),
            logger: logger
        )
        try await DaemonRunner.run(
            service,
            program: "capsule-audit",
            metrics: metrics,
            logger: logger,
            readyStatus: "storing events"
        )
    }
}
