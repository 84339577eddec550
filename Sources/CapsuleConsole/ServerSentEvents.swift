package import Foundation

/// Framing for `text/event-stream` (the HTML standard's server-sent events).
package enum ServerSentEvents {
    /// One event. `data` is one line of JSON (it never holds a raw line break), so it is one `data:` field.
    package static func event(_ name: String, id: Int64? = nil, data: Data) -> String {
        var text = ""
        if let id { text += "id: \(id)\n" }
        text += "event: \(name)\n"
        // Compact JSON escapes line breaks inside strings; split anyway so no input can end a field.
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false) {
            text += "data: \(line.replacingOccurrences(of: "\r", with: ""))\n"
        }
        return text + "\n"
    }

    /// A comment line: keeps proxies from closing an idle stream, and tells the server when the page left.
    package static let keepAlive = ": keep-alive\n\n"

    /// How long the browser waits before it reconnects a dropped stream.
    package static func retry(milliseconds: Int) -> String { "retry: \(milliseconds)\n\n" }
}
