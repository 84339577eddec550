import ArgumentParser
import CapsuleDaemon
import CapsuleDomain
import CapsuleProtocol
import CapsuleRuntime
import Foundation

struct AuditQueryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "query",
        abstract: "Query the audit trail, newest first (the default)."
    )

    @OptionGroup var options: CTLOptions

    @OptionGroup var filters: AuditFilterOptions

    @Option(help: "At most this many records.")
    var limit = 50

    @Flag(help: "Keep printing new records as they are stored (Ctrl-C to stop).")
    var follow = false

    func validate() throws {
        guard limit > 0 else { throw ValidationError("--limit must be positive") }
    }

    func run() throws {
        try guarded {
            let client = try CTLClient(options: options)
            let filter = filters.filter
            let records = try AuditPager.fetch(client, filter, limit: limit, ascending: false)
            guard follow else { return emit(records) }
            // Following reads in time order: the backlog oldest first, then each new record as it is
            // stored (the audit writer holds the request until one matches), in fixed columns.
            // --timeout ends the follow after that many seconds (exit 0).
            if !options.json && !options.noHeaders { printLine(Self.followHeader) }
            for record in records.reversed() { emitLine(record) }
            var lastId = records.map(\.id).max() ?? 0
            let deadline = options.timeout.map { Date().addingTimeInterval($0) }
            while deadline.map({ $0 > Date() }) ?? true {
                var next = filter
                next.since = nil
                next.afterId = lastId
                next.ascending = true
                next.limit = 500
                let wait = min(
                    AuditFilter.maxWaitSeconds,
                    deadline.map { max(0.1, $0.timeIntervalSinceNow) } ?? AuditFilter.maxWaitSeconds
                )
                next.waitSeconds = wait
                let page = try client.call(AuditOps.Query.self, next, timeout: wait + 10)
                for record in page.records { emitLine(record) }
                lastId = page.records.map(\.id).max() ?? lastId
            }
        }
    }

    static let followWidths = [25, 26, 30, 26, 8, 22]
    static var followHeader: String {
        zip(["TIME", "ACTION", "SUBJECT", "ACTOR", "RESULT", "CHANGE"], followWidths).map {
            $0.padding(toLength: $1, withPad: " ", startingAt: 0)
        }
        .joined(separator: " ") + " REASON"
    }

    /// One record per line in fixed-width columns, so a followed stream stays aligned.
    private func emitLine(_ record: AuditRecord) {
        if options.format == .json { return printLine(JSONOutput.line(record)) }
        if options.format == .yaml { return printLine("---\n" + YAMLOutput.render(record)) }
        let event = record.event
        let change = event.from != nil || event.to != nil ? "\(event.from ?? "-") → \(event.to ?? "-")" : "-"
        func pad(_ text: String, _ width: Int) -> String {
            text.count >= width
                ? String(text.prefix(width - 1)) + "…" : text.padding(toLength: width, withPad: " ", startingAt: 0)
        }
        let widths = Self.followWidths
        printLine(
            [
                pad(Table.timestamp(event.at), widths[0]), pad(event.action, widths[1]), pad(event.subject, widths[2]),
                pad(event.actor, widths[3]), pad(event.result.rawValue, widths[4]), pad(change, widths[5]),
                event.reason ?? "",
            ]
            .joined(separator: " ")
        )
    }

    private func emit(_ records: [AuditRecord]) {
        if options.json {
            printLine(options.render(records))
            return
        }
        let view = TableView<AuditRecord>()
            .column("ID", wide: true) { String($0.id) }
            .column("TIME") { Table.timestamp($0.event.at) }
            .column("ACTION") { $0.event.action }
            .column("SUBJECT") { $0.event.subject }
            .column("ACTOR") { $0.event.actor }
            .column("RESULT") { $0.event.result.rawValue }
            .column("CHANGE") {
                $0.event.from != nil || $0.event.to != nil ? "\($0.event.from ?? "-") → \($0.event.to ?? "-")" : ""
            }
            .column("PUBLISHER", wide: true) { "\($0.event.publisher)#\($0.event.seq)" }
            .column("REASON") { $0.event.reason ?? "" }
        printLine(view.render(records, wide: options.wide, headers: !options.noHeaders))
    }
}
