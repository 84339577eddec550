import ArgumentParser
import CapsuleDaemon
import CapsuleProtocol
import CapsuleRuntime
import Foundation

/// Options every `capsulectl` subcommand takes.
package struct CTLOptions: ParsableArguments {
    @OptionGroup package var connect: ConnectOptions

    @Option(help: "Operator key file (default: keys/operator.key in the home).")
    package var key: String?

    @Option(help: "The operator name this key was issued to (default: the name in the key file, else local-owner).")
    package var operatorName: String?

    @Flag(help: "Print machine-readable JSON instead of a table.")
    package var json = false

    @Option(help: "Seconds to wait for the broker's answer, and for a command's result (default: 10 s for answers; until the command expires for results).")
    package var timeout: Double?

    package init() {}

    package func validate() throws {
        if let timeout, timeout <= 0 { throw ValidationError("--timeout must be a positive number of seconds") }
    }

    /// How long to wait for one answer.
    package var requestTimeout: Double { timeout ?? 10 }

    /// How long to wait for `command`'s result: `--timeout`, or until it expires (plus a little).
    func waitTimeout(for command: CommandRecord) -> Double {
        timeout ?? max(1, command.expiresAt.timeIntervalSinceNow + 5)
    }
}
