import ArgumentParser
import CapsuleAgentKit
import CapsuleDaemon
import CapsuleRuntime
import Foundation
import Logging
import Synchronization

/// A small Swift service that embeds CapsuleAgentKit: the Swift half of `make demo`.
///
/// Its health is UP unless the health file says otherwise (UP, DEGRADED or DOWN), so a demo or a
/// test can change it from outside; the `set-health` action changes it from `capsulectl`.
@main
struct DemoServiceCommand: AsyncParsableCommand {
    static func main() async { Foundation.exit(await runWithConfig()) }

    static let configuration = CommandConfiguration(
        commandName: "capsule-demo-service",
        abstract: "A demo Swift service governed through the embedded CapsuleAgentKit SDK.",
        version: VersionText.make("capsule-demo-service")
    )

    @OptionGroup var connect: ConnectOptions

    @Option(help: "The agent code.")
    var agentCode = "demo-swift"

    @Option(help: "The service code.")
    var code = "billing-bridge"

    @Option(help: "A file holding UP, DEGRADED or DOWN; missing means UP.")
    var healthFile: String?

    @Option(help: "Heartbeat interval in seconds until the broker says otherwise.")
    var heartbeatSeconds: Double = 30

    @Option(help: "Append the id of every command the slow-task action runs to this file (fault tests).")
    var executionsFile: String?

    @Option(help: "A one-time registration token, for the first start of this agent.")
    var token: String?

    @OptionGroup var log: LogOptions

    func run() async throws {
        let logger = log.bootstrap(label: "capsule.demo-service")
        let home = connect.capsuleHome
        let file = URL(fileURLWithPath: healthFile ?? home.dataDirectory.appendingPathComponent("\(code).health").path)
        let processed = Atomic<Int>(0)

        let service = CapsuleService(code: code, name: "Billing bridge", version: "1.4.0")
            .health {
                let text =
                    (try? String(contentsOf: file, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
                    ?? "UP"
                let status = HealthStatus(rawValue: text.uppercased()) ?? .unknown
                return HealthReport(
                    status: status,
                    message: status == .up ? "queue drained" : "health file says \(text)",
                    details: .object([
                        "processed": .number(Double(processed.load(ordering: .relaxed))),
                        "upstreamToken": .string("demo-upstream-token-value"),
                    ])
                )
            }
            .configs {
                [
                    ConfigItem(key: "region", value: .string("eu-west-1")),
                    ConfigItem(key: "batchSize", value: .number(50)),
                    ConfigItem(key: "apiKey", sensitive: true, secretRef: "env:BILLING_API_KEY"),
                ]
            }
            .action(ActionDefinition(name: "flush-cache", label: "Flush cache", description: "Drops cached invoices."))
        { payload, _ in
            let count = processed.add(1, ordering: .relaxed).newValue
            // Reports how many characters the `password` input had, to show the handler got the raw value.
            var data: [String: JSONValue] = ["flushes": .number(Double(count))]
            if let password = payload["password"]?.stringValue {
                data["receivedInputChars"] = .number(Double(password.count))
            }
            return .ok("cache flushed", data: .object(data))
        }
            .action(
                ActionDefinition(
                    name: "set-health",
                    label: "Set health",
                    description: "Changes the health this service reports.",
                    dangerLevel: .medium,
                    inputSchema: .object([
                        "type": .string("object"), "required": .array([.string("status")]),
                        "additionalProperties": .bool(false),
                        "properties": .object([
                            "status": .object([
                                "type": .string("string"),
                                "enum": .array([.string("UP"), .string("DEGRADED"), .string("DOWN")]),
                            ])
                        ]),
                    ])
                )
            ) { payload, _ in
                guard let status = payload["status"]?.stringValue else {
                    return .failed(code: "bad_input", message: "status missing")
                }
                try Data(status.utf8).write(to: file)
                return .ok("health set to \(status)")
            }
            .action(
                ActionDefinition(
                    name: "rotate-credentials",
                    label: "Rotate credentials",
                    description: "Rotates the upstream API credentials.",
                    dangerLevel: .high,
                    requiresConfirmation: true,
                    inputSchema: .object([
                        "type": .string("object"), "required": .array([.string("reason")]),
                        "properties": .object(["reason": .object(["type": .string("string"), "minLength": .number(3)])]
                        ),
                    ]),
                    timeoutSeconds: 60
                )
            ) { payload, _ in
                .ok(
                    "credentials rotated",
                    data: .object(["reason": payload["reason"] ?? .null, "newSecret": .string("never-shown")])
                )
            }
            .action(
                ActionDefinition(
                    name: "slow-task",
                    label: "Slow task",
                    description: "Works for `ms` milliseconds, then succeeds.",
                    inputSchema: .object([
                        "type": .string("object"),
                        "properties": .object([
                            "ms": .object([
                                "type": .string("integer"), "minimum": .number(0), "maximum": .number(60_000),
                            ])
                        ]),
                    ])
                )
            ) { [executionsFile] payload, context in
                if let executionsFile {
                    let line = Data((context.commandId + "\n").utf8)
                    if let handle = FileHandle(forWritingAtPath: executionsFile) {
                        handle.seekToEndOfFile()
                        handle.write(line)
                        try? handle.close()
                    } else {
                        _ = FileManager.default.createFile(atPath: executionsFile, contents: line)
                    }
                }
                try await Task.sleep(for: .milliseconds(payload["ms"]?.intValue ?? 1_000))
                return .ok("slow task done")
            }
            .action(
                ActionDefinition(
                    name: "fail-always",
                    label: "Fail",
                    description: "Always fails, to show a FAILED command."
                )
            ) { _, _ in
                .failed(code: "demo_failure", message: "this action always fails")
            }
            .action(
                ActionDefinition(
                    name: "issue-key",
                    label: "Issue an API key",
                    description: "Generates a key; it is shown once to whoever ran this.",
                    dangerLevel: .medium,
                    oneTimeResultFields: ["apiKey"]
                )
            ) { _, context in
                let key =
                    "key_" + context.commandId.dropFirst(4) + "_" + String(UInt64.random(in: 0...UInt64.max), radix: 36)
                return .ok(
                    "key issued",
                    data: .object(["apiKey": .string(key), "keyId": .string("k-" + context.commandId.suffix(6))])
                )
            }

        let agent = CapsuleAgent(
            configuration: AgentConfiguration(
                agentCode: agentCode,
                home: connect.home,
                routerEndpoint: connect.router,
                ingestEndpoint: connect.ingest,
                brokerKey: connect.brokerKey,
                brokers: connect.broker.map { $0.split(separator: ",").map(String.init) },
                enrollmentToken: token,
                heartbeatInterval: .milliseconds(Int(heartbeatSeconds * 1000)),
                logger: logger
            ),
            services: [service]
        )
        try await DaemonRunner.run(
            agent,
            program: "capsule-demo-service",
            metrics: nil,
            logger: logger,
            readyStatus: "serving \(code)",
            onLoop: { $0() }
        )
    }
}
