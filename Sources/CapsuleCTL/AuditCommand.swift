import ArgumentParser
import CapsuleDomain
import CapsuleProtocol
import Foundation

struct AuditCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "audit", abstract: "Query the audit trail, newest first.")

    @OptionGroup var options: CTLOptions

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

    @Option(help: "At most this many records.")
    var limit = 50

    @Flag(help: "Keep printing new records as they are stored (Ctrl-C to stop).")
    var follow = false

    func validate() throws {
        if let result, AuditResult(rawValue: result.uppercased()) == nil { throw ValidationError("--result must be SUCCESS or FAILURE") }
        if let since, Self.parseTime(since) == nil { throw ValidationError("--since: cannot read \(since) as a time or an age") }
        if let until, Self.parseTime(until) == nil { throw ValidationError("--until: cannot read \(until) as a time or an age") }
        guard limit > 0 else { throw ValidationError("--limit must be positive") }
    }

    static func parseTime(_ text: String, now: Date = Date()) -> Date? {
        if let date = ISO8601DateFormatter().date(from: text) { return date }
        let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86_400]
        guard let unit = text.last.flatMap({ units[$0] }), let value = Double(text.dropLast()), value >= 0 else { return nil }
        return now.addingTimeInterval(-value * unit)
    }

    func run() throws {
        try guarded {
            let client = try CTLClient(options: options)
            var filter = AuditFilter()
            filter.subject = subject
            filter.action = action
            filter.actor = actor
            filter.result = result.flatMap { AuditResult(rawValue: $0.uppercased()) }
            filter.since = since.flatMap { Self.parseTime($0) }
            filter.until = until.flatMap { Self.parseTime($0) }
            filter.limit = limit
            let records = try client.call([AuditRecord].self, "audit", "audit.query", .encoding(filter))
            emit(records)
            guard follow else { return }
            var lastId = records.map(\.id).max() ?? 0
            while true {
                Thread.sleep(forTimeInterval: 1)
                var next = filter
                next.afterId = lastId
                next.ascending = true
                next.limit = 1_000
                next.since = nil
                let fresh = try client.call([AuditRecord].self, "audit", "audit.query", .encoding(next))
                if !fresh.isEmpty {
                    emit(fresh.reversed(), header: false)
                    lastId = fresh.map(\.id).max() ?? lastId
                }
            }
        }
    }

    private func emit(_ records: [AuditRecord], header: Bool = true) {
        if options.json {
            for record in records { printLine(JSONOutput.render(record).replacingOccurrences(of: "\n", with: "").replacingOccurrences(of: "  ", with: "")) }
            return
        }
        let rows = records.map { record -> [String] in
            let event = record.event
            let change = event.from != nil || event.to != nil ? "\(event.from ?? "-") → \(event.to ?? "-")" : ""
            return [Table.timestamp(event.at), event.action, event.subject, event.actor, event.result.rawValue, change, event.reason ?? ""]
        }
        let table = Table.render(["TIME", "ACTION", "SUBJECT", "ACTOR", "RESULT", "CHANGE", "REASON"], rows)
        printLine(header ? table : table.split(separator: "\n").dropFirst().joined(separator: "\n"))
    }
}
