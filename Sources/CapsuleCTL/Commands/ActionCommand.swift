import ArgumentParser
import CapsuleDaemon
import CapsuleDomain
import CapsuleProtocol
import CapsuleRuntime
import Foundation

struct ActionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "action",
        abstract: "Run declared actions.",
        subcommands: [Run.self]
    )

    struct Run: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "run",
            abstract: "Run an action and wait for its result. Exits 0 only when it SUCCEEDED."
        )

        @OptionGroup var options: CTLOptions

        @Argument(help: "The service code.", completion: Completions.serviceCodes)
        var service: String

        @Argument(help: "The action name.", completion: Completions.actionNames)
        var action: String

        @Option(help: "The action's input, as a JSON object.")
        var payload: String?

        @Flag(help: "Confirm an action that requires confirmation.")
        var confirm = false

        @Flag(help: "Return once the command is created, without waiting for its result.")
        var noWait = false

        @Flag(help: "Refuse instead of queueing when the service's agent is not ONLINE.")
        var requireOnline = false

        func run() throws {
            try guarded {
                var body: JSONValue?
                if let payload {
                    do {
                        body = try JSONValue.parse(payload)
                    } catch {
                        throw ErrorBody(
                            .badPayload,
                            "--payload is not valid JSON: \(SafeText.clean(String(payload.prefix(80)), limit: 80))"
                        )
                    }
                }
                let client = try CTLClient(options: options)
                // One round trip when the agent is connected: the broker answers once the result is in.
                let wait =
                    noWait
                    ? nil : min(options.timeout ?? BrokerOps.CommandWait.maxSeconds, BrokerOps.CommandWait.maxSeconds)
                let created = try client.call(
                    BrokerOps.CommandCreate.self,
                    .init(
                        service: service,
                        action: action,
                        payload: body,
                        confirm: confirm,
                        requireOnline: requireOnline ? true : nil,
                        waitSeconds: wait
                    ),
                    timeout: (wait ?? 0) + options.requestTimeout
                )
                if let queued = created.queued {
                    FileHandle.standardError.write(
                        Data(
                            "capsulectl: warning: queued: \(queued); it runs when the agent is back, unless it expires first\n"
                                .utf8
                        )
                    )
                }
                let command =
                    noWait
                    ? created
                    : try CommandWaiting.untilTerminal(client, created, timeout: options.waitTimeout(for: created))
                try CommandOutput.show(command, options: options)
            }
        }
    }
}
