import CapsuleAgentKit
import Foundation

// capsule-bench's SDK memory figure (issue 11: "SDK ≤ 5 MiB RSS over a bare Swift process"): the
// bare process (capsule-bare) with the public SDK product embedded and nothing else: one service with
// a health check, two config items and one action, heartbeating to a broker until SIGTERM.
// Usage: capsule-sdk-service HOME AGENT_CODE [TOKEN] [HEARTBEAT_SECONDS]
let arguments = CommandLine.arguments
guard arguments.count >= 3 else {
    FileHandle.standardError.write(
        Data("usage: capsule-sdk-service HOME AGENT_CODE [TOKEN] [HEARTBEAT_SECONDS]\n".utf8)
    )
    exit(2)
}
let heartbeat = arguments.count > 4 ? Double(arguments[4]) ?? 1 : 1
let service = CapsuleService(code: arguments[2], name: "SDK memory probe", version: "1.0.0")
    .health { HealthReport(status: .up, message: "ok") }
    .configs {
        [
            ConfigItem(key: "region", value: .string("eu-west-1")),
            ConfigItem(key: "apiKey", sensitive: true, secretRef: "env:API_KEY"),
        ]
    }
    .action(ActionDefinition(name: "noop", label: "No-op")) { _, _ in .ok("done") }
let agent = CapsuleAgent(
    configuration: AgentConfiguration(
        agentCode: arguments[2],
        home: arguments[1],
        enrollmentToken: arguments.count > 3 && !arguments[3].isEmpty ? arguments[3] : nil,
        heartbeatInterval: .milliseconds(Int(heartbeat * 1000))
    ),
    services: [service]
)
agent.start()
signal(SIGTERM, SIG_IGN)
let stop = DispatchSource.makeSignalSource(signal: SIGTERM, queue: .main)
stop.setEventHandler {
    Task {
        await agent.stop()
        exit(0)
    }
}
stop.resume()
dispatchMain()
