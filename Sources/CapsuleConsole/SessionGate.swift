import CapsuleDomain
import Foundation

/// Who may talk to the console, as a pure function of one request's head (docs/console.md, "Security").
///
/// The console holds an operator's key, so whoever reaches it acts with that key's role. It listens
/// on loopback and admits only requests that carry its session secret: in the URL it printed
/// (`?token=`, first visit only: the answer sets an HttpOnly cookie and redirects to a URL without
/// it), in that cookie, or as `Authorization: Bearer` for scripts. On top of that:
/// - the `Host` header must name the console itself when it listens on loopback, so a DNS-rebinding
///   page cannot address it under another name;
/// - a state-changing request must be `application/json` with the `X-Capsule-Console` header and, if
///   the browser sends an `Origin`, come from the console's own origin, so no other site's page can
///   make the browser send one (those need a CORS preflight, which the console never grants).
package struct SessionGate: Sendable {
    /// The outcome for one request.
    package enum Decision: Sendable, Equatable {
        case allow
        /// First visit with the secret in the URL: set the cookie and send the browser to `location`.
        case redirect(location: String, setCookie: String)
        /// No secret, or a wrong one.
        case unauthorized
        /// A secret, but a request the console will not take from a browser (host, origin, CSRF rules).
        case forbidden(String)
    }

    /// The parts of a request the gate reads.
    package struct Head: Sendable {
        package var method: String
        package var path: String
        /// The `token` query parameter, if any.
        package var queryToken: String?
        /// The rest of the query, re-encoded, to keep on a redirect.
        package var otherQuery: String?
        package var cookieHeader: String?
        package var authorization: String?
        package var host: String?
        package var origin: String?
        package var contentType: String?
        package var consoleHeader: String?

        package init(
            method: String,
            path: String,
            queryToken: String? = nil,
            otherQuery: String? = nil,
            cookieHeader: String? = nil,
            authorization: String? = nil,
            host: String? = nil,
            origin: String? = nil,
            contentType: String? = nil,
            consoleHeader: String? = nil
        ) {
            self.method = method
            self.path = path
            self.queryToken = queryToken
            self.otherQuery = otherQuery
            self.cookieHeader = cookieHeader
            self.authorization = authorization
            self.host = host
            self.origin = origin
            self.contentType = contentType
            self.consoleHeader = consoleHeader
        }
    }

    package let secret: String
    /// The `host:port` names the console answers to; nil when it listens beyond loopback (any name).
    package let allowedHosts: Set<String>?
    /// Cookies are not scoped by port, so the name carries it: two consoles on one machine keep theirs.
    package let cookieName: String

    package init(secret: String, listenHost: String, port: Int) {
        self.secret = secret
        cookieName = "capsule_console_\(port)"
        if Self.isLoopback(listenHost) {
            allowedHosts = Set(["127.0.0.1", "localhost", "[::1]", listenHost].map { "\($0):\(port)" })
        } else {
            allowedHosts = nil
        }
    }

    /// A fresh secret: 32 random bytes as 64 hex digits.
    package static func newSecret(_ bytes: [UInt8]) -> String {
        Hex.string(bytes)
    }

    package static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host == "[::1]" || host.hasPrefix("127.")
    }

    package func decide(_ head: Head) -> Decision {
        if let allowedHosts {
            guard let host = head.host?.lowercased(), allowedHosts.contains(host) else {
                return .forbidden(
                    "this console answers only to \(allowedHosts.sorted().joined(separator: ", ")) (Host header)"
                )
            }
        }
        var presented = bearer(head.authorization) ?? cookie(head.cookieHeader)
        if let token = head.queryToken {
            guard Self.same(token, secret) else { return .unauthorized }
            // A page visited by its URL: the secret becomes the cookie and leaves the address bar.
            if head.method == "GET" || head.method == "HEAD" {
                let location = head.path + (head.otherQuery.flatMap { $0.isEmpty ? nil : "?\($0)" } ?? "")
                return .redirect(location: location, setCookie: setCookie())
            }
            presented = token
        }
        guard let presented, Self.same(presented, secret) else { return .unauthorized }
        if !Self.safeMethods.contains(head.method) {
            guard head.consoleHeader == "1" else {
                return .forbidden("state-changing requests need the X-Capsule-Console: 1 header")
            }
            guard head.contentType?.lowercased().hasPrefix("application/json") ?? false else {
                return .forbidden("state-changing requests must be application/json")
            }
            if let origin = head.origin, let allowedHosts {
                let name = origin.lowercased().replacingOccurrences(of: "http://", with: "")
                guard allowedHosts.contains(name) else { return .forbidden("requests from \(origin) are not accepted") }
            }
        }
        return .allow
    }

    /// `Set-Cookie` for the session: HttpOnly (no script reads it), SameSite=Strict (no other site's
    /// page sends it), for the whole console, gone when the browser closes.
    package func setCookie() -> String {
        "\(cookieName)=\(secret); Path=/; HttpOnly; SameSite=Strict"
    }

    private static let safeMethods: Set<String> = ["GET", "HEAD", "OPTIONS"]

    private func bearer(_ header: String?) -> String? {
        guard let header, header.lowercased().hasPrefix("bearer ") else { return nil }
        return String(header.dropFirst("bearer ".count)).trimmingCharacters(in: .whitespaces)
    }

    private func cookie(_ header: String?) -> String? {
        guard let header else { return nil }
        for part in header.split(separator: ";") {
            let pair = part.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            if pair.count == 2, pair[0] == cookieName { return pair[1] }
        }
        return nil
    }

    /// Compares in time independent of where the strings differ.
    package static func same(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8)
        let y = Array(b.utf8)
        var difference = UInt8(x.count == y.count ? 0 : 1)
        for index in 0..<max(x.count, y.count) {
            difference |= (index < x.count ? x[index] : 0) ^ (index < y.count ? y[index] : 0)
        }
        return difference == 0
    }
}
