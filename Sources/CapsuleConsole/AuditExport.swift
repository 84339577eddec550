import CapsuleDomain
package import CapsuleProtocol
package import Foundation

/// The audit page's export: the same CSV columns and JSON shape as `capsulectl audit export`,
/// written page by page so an export of any size holds only one page in memory.
package enum AuditExport {
    package enum Format: String, Sendable {
        case csv, json

        package var contentType: String {
            switch self {
            case .csv: "text/csv; charset=utf-8"
            case .json: "application/json"
            }
        }
    }

    package static let csvHeader = "id,at,publisher,seq,action,subject,actor,result,from,to,reason,details"

    /// The text before the first record.
    package static func opening(_ format: Format) -> String {
        switch format {
        case .csv: csvHeader + "\n"
        case .json: "["
        }
    }

    /// The text after the last record.
    package static func closing(_ format: Format, empty: Bool) -> String {
        switch format {
        case .csv: ""
        case .json: empty ? "]\n" : "\n]\n"
        }
    }

    /// One record; `first` tells whether a JSON separator is needed.
    package static func row(_ record: AuditRecord, format: Format, first: Bool) -> String {
        switch format {
        case .csv:
            let event = record.event
            return [
                String(record.id), timestamp(event.at), event.publisher, String(event.seq), event.action, event.subject,
                event.actor,
                event.result.rawValue, event.from ?? "", event.to ?? "", event.reason ?? "",
                event.details?.compactText ?? "",
            ]
            .map(csvField).joined(separator: ",") + "\n"
        case .json:
            let data = (try? jsonEncoder.encode(record.event)) ?? Data("null".utf8)
            return (first ? "\n  " : ",\n  ") + String(decoding: data, as: UTF8.self)
        }
    }

    /// RFC 4180 quoting: fields with commas, quotes or line breaks are quoted, quotes doubled. A field
    /// that a spreadsheet would run as a formula (`=`, `+`, `-`, `@` first) gets a leading `'`.
    package static func csvField(_ value: String) -> String {
        var text = value
        if let first = text.first, "=+-@".contains(first) { text = "'" + text }
        guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return text }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    package static func timestamp(_ date: Date) -> String {
        date.formatted(
            .iso8601.year().month().day().time(includingFractionalSeconds: true).timeZone(separator: .omitted)
        )
    }

    private static let jsonEncoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(timestamp(date))
        }
        return encoder
    }()

    /// A file name for the download, such as `capsule-audit-20250101T120000Z.csv`.
    package static func fileName(_ format: Format, at date: Date) -> String {
        let stamp = date.formatted(
            .iso8601.year().month().day().time(includingFractionalSeconds: false)
                .dateSeparator(.omitted).timeSeparator(.omitted).timeZone(separator: .omitted)
        )
        return "capsule-audit-\(stamp).\(format.rawValue)"
    }

    /// An audit filter from the page's query string: `subject`, `action`, `actor`, `result`, and
    /// `since`/`until` as epoch milliseconds.
    package static func filter(_ query: (String) -> String?) throws(ErrorBody) -> AuditFilter {
        var filter = AuditFilter()
        func text(_ name: String) -> String? { query(name).flatMap { $0.isEmpty ? nil : $0 } }
        filter.subject = text("subject")
        filter.action = text("action")
        filter.actor = text("actor")
        if let result = text("result") {
            guard let value = AuditResult(rawValue: result.uppercased()) else {
                throw ErrorBody(.badFilter, "result must be SUCCESS or FAILURE")
            }
            filter.result = value
        }
        for (name, path) in [("since", \AuditFilter.since), ("until", \AuditFilter.until)] {
            guard let value = text(name) else { continue }
            guard let ms = Double(value), ms.isFinite else {
                throw ErrorBody(.badFilter, "\(name) must be epoch milliseconds")
            }
            filter[keyPath: path] = Date(timeIntervalSince1970: ms / 1000)
        }
        return filter
    }
}
