import ArgumentParser
import CapsuleDaemon
import CapsuleDomain
import CapsuleProtocol
import CapsuleRuntime
import Foundation

struct BackupCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup",
        abstract: "Take an online backup of the audit store into the audit writer's backup folder (owner only)."
    )

    @OptionGroup var options: CTLOptions

    @Argument(
        help:
            "The backup's file name (no folders): it is written into the audit writer's backup folder, <home>/backups, mode 0600."
    )
    var name: String

    func run() throws {
        try guarded {
            let result = try CTLClient(options: options).call(AuditOps.Backup.self, .init(name: name))
            printLine(
                options.json
                    ? options.render(result) : "backed up the audit store to \(result.path) (\(result.bytes) bytes)"
            )
        }
    }
}
