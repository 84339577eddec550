package import Foundation
package import Logging
import Synchronization

/// The daemons' log handler: one line per event on standard error, as logfmt (the default) or JSON.
///
/// - logfmt: `ts=2026-12-01T21:15:26.123Z level=info logger=capsule.broker msg="Broker listening." zmq.router=tcp://…`.
///   A value is quoted when it holds a space, `=`, `"`, a backslash or a control character; inside
///   quotes `"` and `\` are escaped and every control character is written as `\n`, `\r`, `\t` or
///   `\u{XX}`, so no message or metadata value can end a line early or forge one.
/// - JSON: one object per line with `ts`, `level`, `logger`, `msg`, then every metadata key as a
///   field (nested metadata as nested objects and arrays).
///
/// Timestamps are ISO 8601 in UTC with milliseconds, as in `capsulectl`'s JSON.
package struct CapsuleLogHandler: LogHandler {
    package enum Format: String, Sendable, CaseIterable {
        case logfmt, json
    }

    package var logLevel: Logger.Level = .info
    package var metadata: Logger.Metadata = [:]
    package var metadataProvider: Logger.MetadataProvider?
    private let label: String
    private let format: Format
    private let sink: LogSink

    package init(
        label: String,
        format: Format,
        level: Logger.Level = .info,
        sink: LogSink = .standardError,
        metadataProvider: Logger.MetadataProvider? = nil
    ) {
        self.label = label
        self.format = format
        self.logLevel = level
        self.sink = sink
        self.metadataProvider = metadataProvider
    }

    package subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    package func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { _, new in new } }
        if let own = event.metadata { merged.merge(own) { _, new in new } }
        sink.write(
            Self.line(
                format: format,
                date: Date(),
                level: event.level,
                label: label,
                message: "\(event.message)",
                metadata: merged
            )
        )
    }

    /// One formatted line, newline included.
    package static func line(
        format: Format,
        date: Date,
        level: Logger.Level,
        label: String,
        message: String,
        metadata: Logger.Metadata
    ) -> String {
        switch format {
        case .logfmt: return logfmtLine(date: date, level: level, label: label, message: message, metadata: metadata)
        case .json: return jsonLine(date: date, level: level, label: label, message: message, metadata: metadata)
        }
    }

    /// The field names a line always has; metadata keys equal to one of them get a `meta.` prefix.
    static let reserved: Set<String> = ["ts", "level", "logger", "msg"]

    // MARK: logfmt

    static func logfmtLine(
        date: Date,
        level: Logger.Level,
        label: String,
        message: String,
        metadata: Logger.Metadata
    ) -> String {
        var line =
            "ts=\(LogTimestamp.iso8601(date)) level=\(level.rawValue) logger=\(logfmtValue(label)) msg=\(logfmtValue(message, alwaysQuote: true))"
        for key in metadata.keys.sorted() {
            let name = reserved.contains(key) ? "meta.\(key)" : key
            line += " \(logfmtKey(name))=\(logfmtValue(flatten(metadata[key]!)))"
        }
        return line + "\n"
    }

    /// Keys are kept to letters, digits and `._-/`; anything else becomes `_`, so a key can neither
    /// hold a space nor an `=`.
    static func logfmtKey(_ key: String) -> String {
        let cleaned = String(
            key.unicodeScalars.map { scalar -> Character in
                let allowed =
                    CharacterSet.alphanumerics.contains(scalar) && scalar.isASCII
                    || "._-/".unicodeScalars.contains(scalar)
                return allowed ? Character(scalar) : "_"
            }
        )
        return cleaned.isEmpty ? "_" : cleaned
    }

    static func logfmtValue(_ value: String, alwaysQuote: Bool = false) -> String {
        let needsQuotes =
            alwaysQuote || value.isEmpty
            || value.unicodeScalars.contains { scalar in
                scalar == " " || scalar == "=" || scalar == "\"" || scalar == "\\"
                    || scalar.properties.generalCategory == .control
                    || scalar.properties.generalCategory == .lineSeparator
                    || scalar.properties.generalCategory == .paragraphSeparator
                    || scalar.properties.generalCategory == .format
            }
        guard needsQuotes else { return value }
        var out = "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                let category = scalar.properties.generalCategory
                if category == .control || category == .lineSeparator || category == .paragraphSeparator
                    || category == .format
                {
                    out += "\\u{\(String(scalar.value, radix: 16))}"
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }

    /// Nested metadata in logfmt: its JSON text, as one (quoted) value.
    static func flatten(_ value: Logger.MetadataValue) -> String {
        switch value {
        case .string(let text): return text
        case .stringConvertible(let convertible): return convertible.description
        case .array, .dictionary: return json(value)
        }
    }

    // MARK: JSON

    static func jsonLine(
        date: Date,
        level: Logger.Level,
        label: String,
        message: String,
        metadata: Logger.Metadata
    ) -> String {
        var line =
            "{\"ts\":\"\(LogTimestamp.iso8601(date))\",\"level\":\"\(level.rawValue)\",\"logger\":\(jsonString(label)),\"msg\":\(jsonString(message))"
        for key in metadata.keys.sorted() {
            let name = reserved.contains(key) ? "meta.\(key)" : key
            line += ",\(jsonString(name)):\(json(metadata[key]!))"
        }
        return line + "}\n"
    }

    static func json(_ value: Logger.MetadataValue) -> String {
        switch value {
        case .string(let text): return jsonString(text)
        case .stringConvertible(let convertible): return jsonString(convertible.description)
        case .array(let items): return "[" + items.map(json).joined(separator: ",") + "]"
        case .dictionary(let object):
            return "{" + object.keys.sorted().map { "\(jsonString($0)):\(json(object[$0]!))" }.joined(separator: ",")
                + "}"
        }
    }

    /// A JSON string literal (RFC 8259): quotes, backslashes and every control character escaped;
    /// U+2028 and U+2029 too, so the line survives JavaScript-minded readers.
    static func jsonString(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{2028}", "\u{2029}": out += String(format: "\\u%04x", scalar.value)
            default:
                if scalar.value < 0x20 || scalar.value == 0x7f {
                    out += String(format: "\\u%04x", scalar.value)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}

/// Where log lines go: a file descriptor, written whole under a lock so lines never interleave.
package final class LogSink: Sendable {
    private let fd: Int32
    private let lock = Mutex(())
    /// Lines kept instead of written (tests).
    private let captured = Mutex<[String]>([])
    private let capture: Bool

    private init(fd: Int32, capture: Bool) {
        self.fd = fd
        self.capture = capture
    }

    package static let standardError = LogSink(fd: 2, capture: false)

    /// A sink that keeps lines in memory, for tests.
    package static func capturing() -> LogSink { LogSink(fd: -1, capture: true) }

    package var lines: [String] { captured.withLock { $0 } }

    package func write(_ line: String) {
        if capture {
            captured.withLock { $0.append(line) }
            return
        }
        lock.withLock { _ in
            var bytes = Array(line.utf8)
            var offset = 0
            while offset < bytes.count {
                let written = bytes.withUnsafeMutableBytes {
                    Foundation.write(fd, $0.baseAddress! + offset, $0.count - offset)
                }
                if written < 0 && errno == EINTR { continue }
                guard written > 0 else { return }
                offset += written
            }
        }
    }
}

/// `2026-12-01T21:15:26.123Z`.
package enum LogTimestamp {
    package static func iso8601(_ date: Date) -> String {
        let totalMillis = Int64((date.timeIntervalSince1970 * 1000).rounded())
        var seconds = time_t(totalMillis / 1000)
        let millis = Int(totalMillis % 1000)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        return String(
            format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
            Int(parts.tm_year) + 1900,
            Int(parts.tm_mon) + 1,
            Int(parts.tm_mday),
            Int(parts.tm_hour),
            Int(parts.tm_min),
            Int(parts.tm_sec),
            millis
        )
    }
}
