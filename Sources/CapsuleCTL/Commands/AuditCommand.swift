import ArgumentParser
import CapsuleDaemon
import CapsuleDomain
import CapsuleProtocol
import CapsuleRuntime
import Foundation

struct AuditCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Query, follow and export the audit trail.",
        subcommands: [AuditQueryCommand.self, AuditExportCommand.self],
        defaultSubcommand: AuditQueryCommand.self
    )
}
