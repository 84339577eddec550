import ArgumentParser
import CapsuleAgentKit
import CapsuleDaemon
import CapsuleRuntime
import CapsuleSidecar
import Foundation
import Logging

@main
struct SidecarCommand: AsyncParsableCommand {
    static func main() async { Foundation.exit(await runWithConfig()) }

    static let configuration = CommandConfiguration(
        commandName: "capsule-agent",
        abstract: "Governs a process that does not link the SDK, from a manifest file (YAML or JSON).",
        version: VersionText.make("capsule-agent")
    )

    @OptionGroup var connect: ConnectOptions

    @Option(help: "The manifest file (docs/sidecar-manifest.md).")
    var manifest: String

    @Option(help: "The agent code (default: sidecar-<service code>).")
    var agentCode: String?

    @Option(help: "Heartbeat interval in seconds until the broker says otherwise.")
    var heartbeatSeconds: Double = 30

    @Option(help: "A one-time registration token, for the first start of a new agent.")
    var token: String?

    @OptionGroup var log: LogOptions

    @Option(
        help: "Serve Prometheus metrics on HOST:PORT at /metrics, or off (the default: several sidecars share a host)."
    )
    var metricsBind = "off"

    @Flag(help: "Validate the manifest and exit.")
    var check = false

    func validate() throws {
        try MetricsListener.validate(metricsBind)
    }

    func run() async throws {
        let parsed: SidecarManifest
        do {
            parsed = try ManifestLoader.load(path: manifest)
        } catch let error as ManifestError {
            FileHandle.standardError.write(Data("capsule-agent: manifest refused: \(error)\n".utf8))
            throw ExitCode(2)
        }
        if check {
            print(
                "manifest OK: service \(parsed.code), \(parsed.actions.count) action(s), \(parsed.configs.count) config item(s)"
            )
            return
        }
        let logger = log.bootstrap(label: "capsule.agent")
        let metrics = try MetricsListener.from(metricsBind, program: "capsule-agent")
        let agent = CapsuleAgent(
            configuration: AgentConfiguration(
                agentCode: agentCode ?? "sidecar-\(parsed.code)",
                home: connect.home,
                routerEndpoint: connect.router,
                ingestEndpoint: connect.ingest,
                brokerKey: connect.brokerKey,
                brokers: connect.broker.map { $0.split(separator: ",").map(String.init) },
                enrollmentToken: token,
                heartbeatInterval: .milliseconds(Int(heartbeatSeconds * 1000)),
                healthTimeout: .milliseconds(Int((parsed.probeTimeoutSeconds + 1) * 1000)),
                logger: logger
            ),
            services: [Sidecar.service(from: parsed)]
        )
        try await DaemonRunner.run(
            agent,
            program: "capsule-agent",
            metrics: metrics,
            logger: logger,
            readyStatus: "governing \(parsed.code)",
            onLoop: { $0() }
        )
    }
}
