import ArgumentParser
import CapsuleDaemon
import CapsuleDomain
import CapsuleProtocol
import CapsuleRuntime
import Foundation

struct AuditCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit", abstract: "Query, follow and export the audit trail.",
        subcommands: [AuditQueryCommand.self, AuditExportCommand.self], defaultSubcommand: AuditQueryCommand.self)
}

/// Filters shared by `audit` and `audit export`.
struct AuditFilterOptions: ParsableArguments {
    @Option(help: "Only this subject, e.g. service:billing or agent:agt_1234.")
    var subject: String?

    @Option(help: "Only this action, or a prefix ending in '.' or '*' (command.*).")
    var action: String?

    @Option(help: "Only this actor, e.g. operator:local-owner or system.")
    var actor: String?

    @Option(help: "Only SUCCESS or FAILURE.")
    var result: String?

    @Option(help: "From this time: ISO 8601, or an age such as 30s, 10m, 2h, 7d.")
    var since: String?

    @Option(help: "Up to this time: ISO 8601, or an age such as 30s, 10m, 2h, 7d.")
    var until: String?

    func validate() throws {
        if let result, AuditResult(rawValue: result.uppercased()) == nil { throw ValidationError("--result must be SUCCESS or FAILURE") }
        if let since, TimeSpan.date(since) == nil { throw ValidationError("--since: cannot read \(since) as a time or an age") }
        if let until, TimeSpan.date(until) == nil { throw ValidationError("--until: cannot read \(until) as a time or an age") }
    }

    var filter: AuditFilter {
        var filter = AuditFilter()
        filter.subject = subject
        filter.action = action
        filter.actor = actor
        filter.result = result.flatMap { AuditResult(rawValue: $0.uppercased()) }
        filter.since = since.flatMap { TimeSpan.date($0) }
        filter.until = until.flatMap { TimeSpan.date($0) }
        return filter
    }
}

/// Fetches audit records page by page, newest first or (ascending) oldest first.
enum AuditPager {
    static func fetch(_ client: CTLClient, _ base: AuditFilter, limit: Int, ascending: Bool, afterId: Int64? = nil) throws -> [AuditRecord] {
        var records: [AuditRecord] = []
        var filter = base
        filter.ascending = ascending
        filter.afterId = afterId
        while records.count < limit {
            filter.limit = min(2_000, limit - records.count)
            let page = try client.call(AuditOps.Query.self, filter)
            records += page.records
            if page.complete || page.records.isEmpty { break }
            if ascending { filter.afterId = page.records.last?.id } else { filter.beforeId = page.records.last?.id }
        }
        return records
    }
}

struct AuditQueryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "query", abstract: "Query the audit trail, newest first (the default).")

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
                let wait = min(AuditFilter.maxWaitSeconds, deadline.map { max(0.1, $0.timeIntervalSinceNow) } ?? AuditFilter.maxWaitSeconds)
                next.waitSeconds = wait
                let page = try client.call(AuditOps.Query.self, next, timeout: wait + 10)
                for record in page.records { emitLine(record) }
                lastId = page.records.map(\.id).max() ?? lastId
            }
        }
    }

    static let followWidths = [25, 26, 30, 26, 8, 22]
    static var followHeader: String {
        zip(["TIME", "ACTION", "SUBJECT", "ACTOR", "RESULT", "CHANGE"], followWidths).map { $0.padding(toLength: $1, withPad: " ", startingAt: 0) }
            .joined(separator: " ") + " REASON"
    }

    /// One record per line in fixed-width columns, so a followed stream stays aligned.
    private func emitLine(_ record: AuditRecord) {
        if options.format == .json { return printLine(JSONOutput.line(record)) }
        if options.format == .yaml { return printLine("---\n" + YAMLOutput.render(record)) }
        let event = record.event
        let change = event.from != nil || event.to != nil ? "\(event.from ?? "-") → \(event.to ?? "-")" : "-"
        func pad(_ text: String, _ width: Int) -> String {
            text.count >= width ? String(text.prefix(width - 1)) + "…" : text.padding(toLength: width, withPad: " ", startingAt: 0)
        }
        let widths = Self.followWidths
        printLine([pad(Table.timestamp(event.at), widths[0]), pad(event.action, widths[1]), pad(event.subject, widths[2]),
                   pad(event.actor, widths[3]), pad(event.result.rawValue, widths[4]), pad(change, widths[5]), event.reason ?? ""]
            .joined(separator: " "))
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
            .column("CHANGE") { $0.event.from != nil || $0.event.to != nil ? "\($0.event.from ?? "-") → \($0.event.to ?? "-")" : "" }
            .column("PUBLISHER", wide: true) { "\($0.event.publisher)#\($0.event.seq)" }
            .column("REASON") { $0.event.reason ?? "" }
        printLine(view.render(records, wide: options.wide, headers: !options.noHeaders))
    }
}

struct AuditExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "export", abstract: "Export matching audit records, oldest first, as CSV or JSON.")

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case csv, json
    }

    @OptionGroup var options: CTLOptions
    @OptionGroup var filters: AuditFilterOptions

    @Option(help: "csv or json.")
    var format: Format = .csv

    @Option(help: "Write to this file instead of standard output.")
    var out: String?

    func run() throws {
        try guarded {
            let records = try AuditPager.fetch(try CTLClient(options: options), filters.filter, limit: Int.max, ascending: true)
            let text: String
            switch format {
            case .json:
                text = JSONOutput.render(records.map(\.event))
            case .csv:
                let header = "id,at,publisher,seq,action,subject,actor,result,from,to,reason,details"
                let lines = records.map { record -> String in
                    let event = record.event
                    return [String(record.id), Table.timestamp(event.at), event.publisher, String(event.seq), event.action, event.subject,
                            event.actor, event.result.rawValue, event.from ?? "", event.to ?? "", event.reason ?? "",
                            event.details?.compactText ?? ""].map(Self.csvField).joined(separator: ",")
                }
                text = ([header] + lines).joined(separator: "\n")
            }
            if let out {
                guard FileManager.default.createFile(atPath: out, contents: Data((text + "\n").utf8)) else {
                    throw ErrorBody(code: "write_failed", message: "cannot write \(out)")
                }
                FileHandle.standardError.write(Data("exported \(records.count) records to \(out)\n".utf8))
            } else {
                printLine(text)
            }
        }
    }

    /// RFC 4180 quoting: fields with commas, quotes or line breaks are quoted, quotes doubled.
    static func csvField(_ value: String) -> String {
        guard value.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return value }
        return "\"" + value.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}

struct BackupCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup", abstract: "Take an online backup of the audit store into the audit writer's backup folder (owner only).")

    @OptionGroup var options: CTLOptions

    @Argument(help: "The backup's file name (no folders): it is written into the audit writer's backup folder, <home>/backups, mode 0600.")
    var name: String

    func run() throws {
        try guarded {
            let result = try CTLClient(options: options).call(AuditOps.Backup.self, .init(name: name))
            printLine(options.json ? options.render(result) : "backed up the audit store to \(result.path) (\(result.bytes) bytes)")
        }
    }
}
