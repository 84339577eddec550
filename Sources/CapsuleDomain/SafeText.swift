/// Free text on its way into a log line or an audit row: control characters escaped, so no input
/// can forge a line or a row, and long text cut with a visible marker, so every event stays bounded
/// (design §5).
package enum SafeText {
    /// Default cap for a reason or a message in an event.
    package static let reasonLimit = 1_024
    /// Default cap for one string inside event details.
    package static let detailLimit = 2_048

    /// `text` with control characters escaped (`\n`, `\r`, `\t`, `\u{1b}` …) and, if longer than
    /// `limit` UTF-8 bytes, cut at a character boundary and marked `…[cut N bytes]`, the marker
    /// included in the limit. So the result is never longer than `limit`, and cleaning it again
    /// changes nothing. (A limit too small for the marker cuts without one.)
    package static func clean(_ text: String, limit: Int = reasonLimit) -> String {
        var needsWork = text.utf8.count > limit
        if !needsWork {
            for scalar in text.unicodeScalars where isControl(scalar) {
                needsWork = true
                break
            }
        }
        guard needsWork else { return text }
        let total = text.utf8.count
        let escapedSize = text.unicodeScalars.reduce(0) { $0 + (isControl($1) ? escape($1).utf8.count : String($1).utf8.count) }
        // Room for the marker: N is at most `total`, so this marker is at least as long as the one written.
        let reserve = "…[cut \(total) bytes]".utf8.count
        let marked = escapedSize > limit && limit >= reserve
        let budget = escapedSize <= limit ? limit : (marked ? limit - reserve : limit)
        var out = ""
        var bytes = 0
        var consumed = 0
        for scalar in text.unicodeScalars {
            let piece = isControl(scalar) ? escape(scalar) : String(scalar)
            let size = piece.utf8.count
            if bytes + size > budget {
                return marked ? out + "…[cut \(total - consumed) bytes]" : out
            }
            out += piece
            bytes += size
            consumed += String(scalar).utf8.count
        }
        return out
    }

    /// `"text"` cleaned and cut, for error messages that echo input.
    package static func quoted(_ text: String, limit: Int) -> String {
        "\"" + clean(text, limit: limit) + "\""
    }

    /// Cleans every string in a JSON value (keys too), for event details.
    package static func clean(_ value: JSONValue, limit: Int = detailLimit) -> JSONValue {
        switch value {
        case .string(let text): return .string(clean(text, limit: limit))
        case .array(let items): return .array(items.map { clean($0, limit: limit) })
        case .object(let object):
            var copy: [String: JSONValue] = [:]
            for (key, item) in object { copy[clean(key, limit: 128)] = clean(item, limit: limit) }
            return .object(copy)
        default: return value
        }
    }

    private static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || scalar.value == 0x7f || (0x80...0x9f).contains(scalar.value)
            || scalar.value == 0x2028 || scalar.value == 0x2029
    }

    private static func escape(_ scalar: Unicode.Scalar) -> String {
        switch scalar {
        case "\n": return "\\n"
        case "\r": return "\\r"
        case "\t": return "\\t"
        default:
            let hex = String(scalar.value, radix: 16)
            return "\\u{" + hex + "}"
        }
    }
}
