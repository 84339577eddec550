package import ArgumentParser
import CapsuleDaemon
import CapsuleDomain
import CapsuleProtocol
import CapsuleRuntime
import Foundation

/// `capsulectl`: the operator CLI.
package struct CapsuleCTLCommand: ParsableCommand {
    package static let configuration = CommandConfiguration(
        commandName: "capsulectl",
        abstract: "Operate a Capsule fleet: status, agents, services, actions, commands and the audit trail.",
        discussion: """
            Global options (--home, --router, --broker-key, --key, --context, -o/--output, --json, --no-headers, --timeout, \
            --connect-timeout) go before or after the subcommand: capsulectl --json status and capsulectl status --json are \
            the same. They also come from CAPSULE_<OPTION> variables (CAPSULE_HOME, CAPSULE_OUTPUT=json), from --config FILE, \
            and from the context of the client config file (~/.config/capsule/config.yaml; capsulectl config get-contexts). \
            Flags win over variables, which win over --config, which wins over the current context; an explicit --context \
            (or CAPSULE_CONTEXT) wins over variables and --config.

            Shell completion: capsulectl --generate-completion-script bash|zsh|fish (completes service codes, action \
            names and command ids by asking the broker).

            EXIT CODES
            \(CTLExitCode.table)
            """,
        version: VersionText.make("capsulectl"),
        subcommands: [
            StatusCommand.self, AgentsCommand.self, ServiceCommand.self, ActionCommand.self, CommandsCommand.self,
            CommandCommand.self, AuditCommand.self, TokenCommand.self, AgentCommand.self, OperatorCommand.self,
            BackupCommand.self,
            SettingsCommand.self, ClusterInfoCommand.self, VersionCommand.self, ConfigCommand.self, ConsoleCommand.self,
            StoreCommand.self,
        ]
    )

    package init() {}
}

/// Runs a subcommand body; any failure becomes a ``CTLError`` (one line and an exit code), which
/// the thin `main` prints and exits with. Library code never exits.
func guarded(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let error as ExitCode {
        throw error
    } catch {
        throw CTLError.from(error)
    }
}

func printLine(_ text: String) {
    print(text)
    fflush(nil)
}
