import Foundation

/// Where an HTTP listener binds: `HOST:PORT` (`127.0.0.1:9401`, `[::1]:9401`, `0.0.0.0:9401`), or
/// `off` for none.
package struct HTTPBindAddress: Sendable, Hashable, CustomStringConvertible {
    package var host: String
    package var port: Int

    package init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Reads `HOST:PORT`; `off` (or `none`, `disabled`) is nil. Port 0 picks a free port.
    package static func parse(_ text: String) throws(HTTPBindError) -> HTTPBindAddress? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if ["off", "none", "disabled", "false"].contains(trimmed.lowercased()) { return nil }
        var host: Substring
        var portText: Substring
        if trimmed.hasPrefix("[") {
            guard let close = trimmed.firstIndex(of: "]") else {
                throw HTTPBindError(text, "an IPv6 address needs a closing ']'")
            }
            host = trimmed[trimmed.index(after: trimmed.startIndex)..<close]
            let rest = trimmed[trimmed.index(after: close)...]
            guard rest.hasPrefix(":") else { throw HTTPBindError(text, "expected [ADDRESS]:PORT") }
            portText = rest.dropFirst()
        } else {
            guard let colon = trimmed.lastIndex(of: ":"), !trimmed[..<colon].contains(":") else {
                throw HTTPBindError(text, "expected HOST:PORT, e.g. 127.0.0.1:9401, or off")
            }
            host = trimmed[..<colon]
            portText = trimmed[trimmed.index(after: colon)...]
        }
        guard !host.isEmpty else {
            throw HTTPBindError(
                text,
                "the host is missing (use 127.0.0.1 for this machine only, 0.0.0.0 for every interface)"
            )
        }
        guard let port = Int(portText), (0...65_535).contains(port) else {
            throw HTTPBindError(text, "the port must be a number from 0 to 65535")
        }
        return HTTPBindAddress(host: String(host), port: port)
    }

    package var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// A bind address that cannot be read.
package struct HTTPBindError: Error, Sendable, Hashable, CustomStringConvertible {
    package var text: String
    package var reason: String

    package init(_ text: String, _ reason: String) {
        self.text = text
        self.reason = reason
    }

    package var description: String { "cannot read '\(text)' as a listen address: \(reason)" }
}
