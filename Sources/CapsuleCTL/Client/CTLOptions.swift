package import ArgumentParser
package import CapsuleDaemon
import CapsuleDomain
import CapsuleProtocol
import CapsuleRuntime
import Foundation

/// `-o` values.
package enum OutputFormat: String, ExpressibleByArgument, CaseIterable, Sendable {
    /// Aligned columns for people (the default).
    case table
    /// The table with more columns.
    case wide
    /// One JSON document: lists are arrays, times ISO 8601 with milliseconds.
    case json
    /// The same document as YAML.
    case yaml
}

/// Options every `capsulectl` subcommand takes. They may also be given before the subcommand
/// (`capsulectl --json status`): ``ArgumentNormalizer`` moves them after it.
package struct CTLOptions: ParsableArguments {
    @OptionGroup package var connect: ConnectOptions

    @Option(help: "Operator key file (default: keys/operator.key in the home).")
    package var key: String?

    @Option(help: "The operator name this key was issued to (default: the name in the key file, else local-owner).")
    package var operatorName: String?

    @Option(help: "Use this context of the client config file (home, router, broker key, key), as kubectl does.")
    package var context: String?

    @Option(
        help:
            "The client config file with contexts (default: $XDG_CONFIG_HOME/capsule/config.yaml, else ~/.config/capsule/config.yaml)."
    )
    package var clientConfig: String?

    @Option(name: [.customShort("o"), .customLong("output")], help: "Output format: table, wide, json or yaml.")
    package var output: OutputFormat?

    @Flag(name: .customLong("json"), help: "Same as -o json.")
    package var jsonFlag = false

    @Flag(help: "Leave the header line out of tables.")
    package var noHeaders = false

    @Option(
        help:
            "Seconds to wait for the broker's answer, and for a command's result (default: 10 s for answers; until the command expires for results); also ends --watch and --follow after that long."
    )
    package var timeout: Double?

    @Option(help: "Seconds to wait for a connection to the broker before saying it is unreachable (default 1).")
    package var connectTimeout: Double = 1

    package init() {}

    package func validate() throws {
        if let timeout, timeout <= 0 { throw ValidationError("--timeout must be a positive number of seconds") }
        guard connectTimeout > 0 else {
            throw ValidationError("--connect-timeout must be a positive number of seconds")
        }
        if jsonFlag, let output, output != .json {
            throw ValidationError("--json and -o \(output.rawValue) disagree; give one of them")
        }
    }

    /// The output format: `-o`, or `--json`, or a table.
    package var format: OutputFormat { jsonFlag ? .json : output ?? .table }

    /// JSON or YAML: a document for scripts rather than a table.
    package var json: Bool { format == .json || format == .yaml }

    package var wide: Bool { format == .wide }

    /// How long to wait for one answer.
    package var requestTimeout: Double { timeout ?? 10 }

    /// How long to wait for `command`'s result: `--timeout`, or until it expires (plus a little).
    func waitTimeout(for command: CommandRecord) -> Double {
        timeout ?? max(1, command.expiresAt.timeIntervalSinceNow + 5)
    }

    /// A value as this format's document (JSON or YAML).
    package func render(_ value: some Encodable) -> String {
        format == .yaml ? YAMLOutput.render(value) : JSONOutput.render(value)
    }

    /// Rows as a table, with `--no-headers` honoured.
    package func table(_ headers: [String], _ rows: [[String]]) -> String {
        Table.render(headers, rows, headers: !noHeaders)
    }
}
