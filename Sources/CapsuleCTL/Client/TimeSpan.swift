import Foundation

/// Spans and points in time as `capsulectl` flags take them: `30s`, `10m`, `2h`, `7d`, or ISO 8601.
enum TimeSpan {
    private static let units: [Character: Double] = ["s": 1, "m": 60, "h": 3_600, "d": 86_400]

    /// `30s` → 30, `2h` → 7200; nil for anything else (including negative spans).
    static func seconds(_ text: String) -> Double? {
        guard let unit = text.last.flatMap({ units[$0] }), let value = Double(text.dropLast()), value >= 0 else {
            return nil
        }
        return value * unit
    }

    /// An ISO 8601 time, or an age (`10m` = ten minutes before `now`).
    static func date(_ text: String, now: Date = Date()) -> Date? {
        if let date = ISO8601DateFormatter().date(from: text) { return date }
        return seconds(text).map { now.addingTimeInterval(-$0) }
    }
}
