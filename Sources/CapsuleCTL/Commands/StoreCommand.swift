import ArgumentParser
import CapsuleAggregator
import CapsuleAudit
import CapsulePostgres
import CapsuleRuntime
import CapsuleStore
import Foundation

/// `capsulectl store migrate`: moves the stores from the embedded SQLite files to PostgreSQL
/// (docs/deployment.md, "Upgrading from SQLite"). Run it with the daemons stopped.
struct StoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store",
        abstract: "Move the stores between backends (SQLite files, PostgreSQL).",
        subcommands: [Migrate.self]
    )

    struct Migrate: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "migrate",
            abstract:
                "Copy the broker's, the aggregator's and the audit stores from SQLite into an empty PostgreSQL database, then compare row counts table by table. Stop the daemons first."
        )

        @Option(
            help:
                "The SQLite stores: sqlite:DIRECTORY holding broker.sqlite, aggregator.sqlite and audit.sqlite (a home's data folder)."
        )
        var from: String

        @Option(
            help:
                "The PostgreSQL database: postgres://user@host:port/database (each store goes into a schema of its own)."
        )
        var to: String

        @Option(help: "Only these stores (repeatable): broker, aggregator, audit. Default: each whose file exists.")
        var store: [String] = []

        @Flag(help: "Print the counts as JSON.")
        var json = false

        func run() throws {
            try guarded {
                guard from.hasPrefix("sqlite:") else { throw ValidationError("--from takes sqlite:DIRECTORY") }
                guard let location = PostgresLocation(to) else {
                    throw ValidationError("--to takes postgres://user@host:port/database")
                }
                var directory = String(from.dropFirst("sqlite:".count))
                if directory.hasPrefix("//") { directory = String(directory.dropFirst(2)) }
                let folder = URL(fileURLWithPath: directory, isDirectory: true)
                let schemas = [BrokerStore.schema, AggregatorStore.schema, AuditStore.schema]
                let chosen = schemas.filter { schema in
                    store.isEmpty
                        ? FileManager.default.fileExists(
                            atPath: folder.appendingPathComponent("\(schema.name).sqlite").path
                        )
                        : store.contains(schema.name)
                }
                guard !chosen.isEmpty else { throw ValidationError("no store to migrate in \(folder.path)") }
                var report: [(store: String, counts: [StoreCopy.TableCount])] = []
                for schema in chosen {
                    let file = folder.appendingPathComponent("\(schema.name).sqlite")
                    guard FileManager.default.fileExists(atPath: file.path) else {
                        throw ValidationError("\(file.path) does not exist")
                    }
                    let source = try SQLiteStore.open(at: file, schema: schema)
                    let target = try PostgresStore.open(
                        location: location,
                        schema: schema,
                        applicationName: "capsulectl"
                    )
                    defer {
                        source.close()
                        target.close()
                    }
                    report.append((schema.name, try StoreCopy.copy(schema, from: source, to: target)))
                }
                let matches = report.allSatisfy { $0.counts.allSatisfy(\.matches) }
                if json {
                    let rows = report.flatMap { entry in
                        entry.counts.map {
                            "{\"store\":\"\(entry.store)\",\"table\":\"\($0.table)\",\"sqlite\":\($0.source),\"postgres\":\($0.target)}"
                        }
                    }
                    printLine("[" + rows.joined(separator: ",") + "]")
                } else {
                    func cell(_ text: String, _ width: Int, right: Bool = false) -> String {
                        let pad = String(repeating: " ", count: max(0, width - text.count))
                        return right ? pad + text : text + pad
                    }
                    printLine(
                        cell("STORE", 11) + cell("TABLE", 17) + cell("SQLITE", 10, right: true)
                            + cell("POSTGRES", 10, right: true) + "  CHECK"
                    )
                    for entry in report {
                        for count in entry.counts {
                            printLine(
                                cell(entry.store, 11) + cell(count.table, 17) + cell("\(count.source)", 10, right: true)
                                    + cell("\(count.target)", 10, right: true) + "  "
                                    + (count.matches ? "ok" : "MISMATCH")
                            )
                        }
                    }
                    printLine(
                        matches
                            ? "migrated: every table's count matches; start the daemons with --store \(location)"
                            : "the counts differ: do not switch; see the tables marked MISMATCH"
                    )
                }
                if !matches { throw ExitCode(3) }
            }
        }
    }
}
