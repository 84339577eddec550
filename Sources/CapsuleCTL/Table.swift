import CapsuleDaemon
import CapsuleDomain
import CapsuleProtocol
import CapsuleRuntime
import Foundation
import Yams

/// Renders rows as a plain, aligned text table.
package enum Table {
    package static func render(_ headers: [String], _ rows: [[String]], headers showHeaders: Bool = true) -> String {
        var widths = headers.map(\.count)
        for row in rows {
            for (index, cell) in row.enumerated() where index < widths.count {
                widths[index] = max(widths[index], cell.count)
            }
        }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { index, cell in
                index == cells.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }
        return ((showHeaders ? [line(headers)] : []) + rows.map(line)).joined(separator: "\n")
    }

    /// "12s ago", "3m ago", or "-".
    package static func ago(_ date: Date?, now: Date = Date()) -> String {
        guard let date else { return "-" }
        let seconds = Int(now.timeIntervalSince(date))
        if seconds < 120 { return "\(max(0, seconds))s ago" }
        if seconds < 7200 { return "\(seconds / 60)m ago" }
        return "\(seconds / 3600)h ago"
    }

    /// ISO 8601 with milliseconds, UTC: `2026-12-01T21:15:26.123Z`.
    package static func timestamp(_ date: Date?) -> String {
        guard let date else { return "-" }
        return date.formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true).timeZone(separator: .omitted))
    }
}

/// A table whose columns may be shown only with `-o wide`.
package struct TableView<Row> {
    package struct Column {
        var header: String
        var wideOnly: Bool
        var value: (Row) -> String
    }

    package var columns: [Column] = []

    package init() {}

    package func column(_ header: String, wide: Bool = false, _ value: @escaping (Row) -> String) -> TableView {
        var copy = self
        copy.columns.append(Column(header: header, wideOnly: wide, value: value))
        return copy
    }

    package func render(_ rows: [Row], wide: Bool, headers: Bool = true) -> String {
        let shown = columns.filter { wide || !$0.wideOnly }
        return Table.render(shown.map(\.header), rows.map { row in shown.map { $0.value(row) } }, headers: headers)
    }
}

/// JSON output for scripts: sorted keys, ISO 8601 dates.
package enum JSONOutput {
    package static func render(_ value: some Encodable) -> String {
        encode(value, pretty: true)
    }

    /// One compact JSON value on one line (for streams: `audit --follow -o json`).
    package static func line(_ value: some Encodable) -> String {
        encode(value, pretty: false)
    }

    /// The value as the JSON output has it (dates already text).
    package static func value(_ value: some Encodable) -> JSONValue? {
        try? JSONValue.parse(encode(value, pretty: false))
    }

    private static func encode(_ value: some Encodable, pretty: Bool) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = pretty ? [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(Table.timestamp(date))
        }
        return (try? encoder.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "null"
    }
}

/// YAML output: the same document as the JSON output (same keys, ISO dates as text), in YAML.
package enum YAMLOutput {
    package static func render(_ value: some Encodable) -> String {
        guard let json = JSONOutput.value(value), let text = try? Yams.dump(object: native(json), sortKeys: true) else { return "null" }
        return text.hasSuffix("\n") ? String(text.dropLast()) : text
    }

    /// Swift values Yams represents with their YAML types (strings that look like numbers or
    /// booleans are quoted by Yams).
    static func native(_ value: JSONValue) -> Any {
        switch value {
        case .null: return NSNull()
        case .bool(let flag): return flag
        case .number(let number):
            if number == number.rounded(), abs(number) < 1e15 { return Int(number) }
            return number
        case .string(let text): return text
        case .array(let items): return items.map(native)
        case .object(let object): return object.mapValues(native)
        }
    }
}
