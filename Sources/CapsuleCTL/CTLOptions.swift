import ArgumentParser
import CapsuleRuntime

/// Options every `capsulectl` subcommand takes.
package struct CTLOptions: ParsableArguments {
    @OptionGroup package var connect: ConnectOptions

    @Option(help: "Operator key file (default: keys/operator.key in the home).")
    package var key: String?

    @Option(help: "The operator name this key was issued to (default: the name in the key file, else local-owner).")
    package var operatorName: String?

    @Flag(help: "Print machine-readable JSON instead of a table.")
    package var json = false

    @Option(help: "Seconds to wait for the broker's answer.")
    package var timeout: Double = 10

    package init() {}
}
