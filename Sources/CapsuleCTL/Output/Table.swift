import CapsuleDaemon
import CapsuleDomain
import CapsuleProtocol
import CapsuleRuntime
package import Foundation
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
        return date.formatted(
            .iso8601.year().month().day().time(includingFractionalSeconds: true).timeZone(separator: .omitted)
        )
    }
}
