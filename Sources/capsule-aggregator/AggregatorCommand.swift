import ArgumentParser
import CapsuleAggregator
import CapsuleDaemon
import CapsuleDomain
import CapsulePostgres
import CapsuleRuntime
import CapsuleStore
import Foundation

@main
struct AggregatorCommand: AsyncParsableCommand {
    static func main() async { Foundation.exit(await runWithConfig()) }

    static let configuration = CommandConfiguration(
        commandName: "capsule-aggregator",
        abstract: "Folds heartbeats, health and service reports into effectiveStatus and publishes every transition.",
        version: VersionText.make("capsule-aggregator", schemas: [("aggregator", AggregatorStore.schemaVersion)])
    )

    @OptionGroup var daemon: DaemonOptions

    @Option(help: "This aggregator's key file (default: keys/aggregator.key in the home).")
    var keyFile: String?

    @Option(help: "Milliseconds between sweeps that re-apply the status rule (at most 1000).")
    var sweepMilliseconds = 500

    @Option(help: "Serve Prometheus metrics on HOST:PORT at /metrics, or off.")
    var metricsBind = "127.0.0.1:9402"
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

    func validate() throws {
        guard (50...1000).contains(sweepMilliseconds) else {
            throw ValidationError("--sweep-milliseconds must be between 50 and 1000")
        }
        try MetricsListener.validate(metricsBind)
    }

    func run() async throws {
        let logger = daemon.log.bootstrap(label: "capsule.aggregator")
        let metrics = try MetricsListener.from(metricsBind, program: "capsule-aggregator")
        let home = daemon.connect.capsuleHome
        let (broker, brokerKey) = try daemon.connect.resolveBroker()
        let keyPair =
            try keyFile.map { try KeyFile.read(.init(fileURLWithPath: $0)) } ?? home.loadOrCreateKeyPair("aggregator")
        let configuration = AggregatorConfiguration(
            home: home,
            broker: broker,
            brokerKey: brokerKey,
            keyPair: keyPair,
            thresholds: daemon.thresholds,
            sweepMilliseconds: sweepMilliseconds,
            initializeStore: initStore,
            store: try StoreOpener.resolve(
                store,
                defaultDirectory: home.dataDirectory,
                applicationName: "capsule-aggregator"
            )
        )
        let service = try Aggregator.makeService(configuration: configuration, logger: logger)
        try await DaemonRunner.run(
            service,
            program: "capsule-aggregator",
            metrics: metrics,
            logger: logger,
            readyStatus: "following \(broker.bus)"
        )
    }
}
