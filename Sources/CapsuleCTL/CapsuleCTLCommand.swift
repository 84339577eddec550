import ArgumentParser
import CapsuleProtocol
import CapsuleDaemon
import CapsuleRuntime
import CapsuleZMQ
import Foundation

/// `capsulectl`: the operator CLI.
package struct CapsuleCTLCommand: ParsableCommand {
    package static let configuration = CommandConfiguration(
        commandName: "capsulectl",
        abstract: "Operate a Capsule fleet: status, agents, services, actions, commands and the audit trail.",
        subcommands: [StatusCommand.self, AgentsCommand.self, ServiceCommand.self, ActionCommand.self, CommandsCommand.self,
                      CommandCommand.self, AuditCommand.self, TokenCommand.self, AgentCommand.self, OperatorCommand.self, BackupCommand.self,
                      SettingsCommand.self, ClusterInfoCommand.self, StoreCommand.self]
    )

    package init() {}
}

/// Runs a subcommand body and turns any failure into one line on stderr and exit code 1.
func guarded(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let error as ExitCode {
        throw error
    } catch let error as ErrorBody {
        fail(error.message)
    } catch let error as ConfigError {
        fail(error.description)
    } catch let error as ZMQError {
        fail("transport: \(error)")
    } catch let error as ValidationError {
        throw error
    } catch {
        fail("\(error)")
    }
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("capsulectl: \(message)\n".utf8))
    Foundation.exit(1)
}

func printLine(_ text: String) {
    print(text)
}
