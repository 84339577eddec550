import ArgumentParser
import CapsuleDaemon
import CapsuleDomain
import CapsuleProtocol
import CapsuleRuntime
import Foundation

struct AuditExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Export matching audit records, oldest first, as CSV or JSON."
    )

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
            let records = try AuditPager.fetch(
                try CTLClient(options: options),
                filters.filter,
                limit: Int.max,
                ascending: true
            )
            let text: String
            switch format {
            case .json:
                text = JSONOutput.render(records.map(\.event))
            case .csv:
                let header = "id,at,publisher,seq,action,subject,actor,result,from,to,reason,details"
                let lines = records.map { record -> String in
                    let event = record.event
                    return [
                        String(record.id), Table.timestamp(event.at), event.publisher, String(event.seq), event.action,
                        event.subject,
                        event.actor, event.result.rawValue, event.from ?? "", event.to ?? "", event.reason ?? "",
                        event.details?.compactText ?? "",
                    ].map(Self.csvField).joined(separator: ",")
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
