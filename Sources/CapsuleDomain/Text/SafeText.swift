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
        // One pass that stops as soon as the escaped text outgrows `limit`: the work is bounded by
        // `limit`, not by the input (a hostile 200 KB code costs as much as a 1 KB one).
        let total = text.utf8.count
        // Room for the marker: N is at most `total`, so this marker is at least as long as the one written.
        let reserve = "…[cut \(total) bytes]".utf8.count
        let markable = limit >= reserve
        let markedBudget = markable ? limit - reserve : limit
        var out = ""
        var bytes = 0
        var consumed = 0
        var cut: (text: String, consumed: Int)?
        for scalar in text.unicodeScalars {
            let control = isControl(scalar)
            let size = control ? escape(scalar).utf8.count : scalar.utf8.count
            if cut == nil, bytes + size > markedBudget { cut = (out, consumed) }
            if bytes + size > limit {
                guard markable, let cut else { return out }
                return cut.text + "…[cut \(total - cut.consumed) bytes]"
            }
            if control { out += escape(scalar) } else { out.unicodeScalars.append(scalar) }
            bytes += size
            consumed += scalar.utf8.count
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
