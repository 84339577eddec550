import CapsuleCrypto
import Foundation

/// `--listen host:port`: where the console binds. Loopback unless the operator names another address.
package struct ListenAddress: Sendable, Hashable {
    package var host: String
    package var port: Int

    package static let `default` = ListenAddress(host: "127.0.0.1", port: 7480)

    package init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Reads `127.0.0.1:7480`, `localhost:8000`, `[::1]:7480`, `:7480` (loopback) or `7480` (loopback).
    package init(parsing text: String) throws(ConsoleError) {
        let bad = ConsoleError(.badListen, "--listen wants host:port, e.g. 127.0.0.1:7480 (got \(text))")
        var host = "127.0.0.1"
        var portText = text
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else {
                throw bad
            }
            host = String(text[text.index(after: text.startIndex)..<close])
            portText = String(text[text.index(close, offsetBy: 2)...])
        } else if let colon = text.lastIndex(of: ":") {
            let named = String(text[..<colon])
            if !named.isEmpty { host = named }
            portText = String(text[text.index(after: colon)...])
        }
        guard !host.contains(":") || text.hasPrefix("["), let port = Int(portText), (1...65_535).contains(port) else {
            throw bad
        }
        self.host = host
        self.port = port
    }

    package var isLoopback: Bool { SessionGate.isLoopback(host) }
}

extension SessionGate {
    /// A new session secret from the system's CSPRNG: 32 bytes, 64 hex digits.
    package static func randomSecret() -> String { newSecret(Crypto.randomBytes(32)) }
}
