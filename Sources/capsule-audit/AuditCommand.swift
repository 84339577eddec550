import ArgumentParser
import CapsuleAudit
import CapsuleDaemon
import CapsulePostgres
import CapsuleStore
import CapsuleRuntime
import Foundation
import Logging
import ServiceLifecycle

@main
struct AuditCommand: AsyncParsableCommand {
    static func main() async { await mainWithConfig() }

    static let configuration = CommandConfiguration(
        commandName: "capsule-audit",
        abstract: "Persists every Capsule event exactly once and answers audit queries."
    )

    @OptionGroup var connect: ConnectOptions

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel = "info"

    @Option(help: "This audit writer's key file (default: keys/audit.key in the home).")
    var keyFile: String?

    @Option(help: "Delete events older than this many days (checked hourly); 0 keeps everything.")
    var retentionDays = 90

    @Option(help: "Where the store is: postgres://user@host:port/database (PostgreSQL, shared by brokers that fail over), or sqlite:DIRECTORY. Default: the SQLite file in the home's data folder. Also CAPSULE_STORE.")
    var store: String?

    @Flag(help: "If the store file is empty or unreadable, move it aside and start a new, empty one (a new journal incarnation) instead of refusing to start.")
    var initStore = false

    func validate() throws {
        guard retentionDays >= 0 else { throw ValidationError("--retention-days must be 0 (keep forever) or more") }
    }

    func run() async throws {
        let logger = LogSetup.bootstrap(level: logLevel, label: "capsule.audit")
        let home = connect.capsuleHome
        let (broker, brokerKey) = try connect.resolveBroker()
        let keyPair = try keyFile.map { try KeyFile.read(URL(fileURLWithPath: $0)) } ?? home.loadOrCreateKeyPair("audit")
        let service = try Audit.makeService(
            configuration: AuditConfiguration(home: home, broker: broker, brokerKey: brokerKey, keyPair: keyPair, retentionDays: retentionDays,
                                             initializeStore: initStore,
                                             store: try StoreOpener.resolve(store, defaultDirectory: home.dataDirectory, applicationName: "capsule-audit")),
            logger: logger)
        try await ServiceGroup.runUntilSignalled(service, logger: logger)
    }
}
