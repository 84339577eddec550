import ArgumentParser
import CapsuleAggregator
import Foundation
import CapsuleDomain
import CapsuleDaemon
import CapsulePostgres
import CapsuleStore
import CapsuleRuntime
import Logging
import ServiceLifecycle

@main
struct AggregatorCommand: AsyncParsableCommand {
    static func main() async { await mainWithConfig() }

    static let configuration = CommandConfiguration(
        commandName: "capsule-aggregator",
        abstract: "Folds heartbeats, health and service reports into effectiveStatus and publishes every transition."
    )

    @OptionGroup var daemon: DaemonOptions

    @Option(help: "This aggregator's key file (default: keys/aggregator.key in the home).")
    var keyFile: String?

    @Option(help: "Milliseconds between sweeps that re-apply the status rule (at most 1000).")
    var sweepMilliseconds = 500

    @Option(help: "Where the store is: postgres://user@host:port/database (PostgreSQL, shared by brokers that fail over), or sqlite:DIRECTORY. Default: the SQLite file in the home's data folder. Also CAPSULE_STORE.")
    var store: String?

    @Flag(help: "If the store file is empty or unreadable, move it aside and start a new, empty one (a new journal incarnation) instead of refusing to start.")
    var initStore = false

    func validate() throws {
        guard (50...1000).contains(sweepMilliseconds) else { throw ValidationError("--sweep-milliseconds must be between 50 and 1000") }
    }

    func run() async throws {
        let logger = LogSetup.bootstrap(level: daemon.logLevel, label: "capsule.aggregator")
        let home = daemon.connect.capsuleHome
        let (broker, brokerKey) = try daemon.connect.resolveBroker()
        let keyPair = try keyFile.map { try KeyFile.read(.init(fileURLWithPath: $0)) } ?? home.loadOrCreateKeyPair("aggregator")
        let configuration = AggregatorConfiguration(
            home: home, broker: broker, brokerKey: brokerKey, keyPair: keyPair,
            thresholds: daemon.thresholds,
            sweepMilliseconds: sweepMilliseconds,
            initializeStore: initStore,
            store: try StoreOpener.resolve(store, defaultDirectory: home.dataDirectory, applicationName: "capsule-aggregator")
        )
        let service = try Aggregator.makeService(configuration: configuration, logger: logger)
        try await ServiceGroup.runUntilSignalled(service, logger: logger)
    }
}
