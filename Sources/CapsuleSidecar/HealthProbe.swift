import AsyncHTTPClient
package import CapsuleDomain
import Foundation
import NIOCore
import NIOHTTP1

/// Runs a manifest's health probe and maps its outcome to a health report.
///
/// - http: 2xx → UP, 5xx → DOWN, any other status → DEGRADED, no answer → DOWN.
/// - tcp: connected within the timeout → UP, otherwise DOWN.
/// - command: exit 0 → UP, 1 → DEGRADED, 2 → DOWN, anything else or a timeout → UNKNOWN; the first
///   line of stdout is the message.
package enum HealthProbe {
    package static func check(_ probe: SidecarManifest.Probe) async -> HealthReport {
        switch probe {
        case .http(let url, let timeout):
            return await http(url, timeout: timeout)
        case .tcp(let host, let port, let timeout):
            return await tcp(host: host, port: port, timeout: timeout)
        case .command(let argv, let timeout):
            let outcome = await ProcessRunner.run(argv, timeoutSeconds: timeout)
            let line = outcome.stdout.split(separator: "\n").first.map(String.init)
            if let error = outcome.launchError { return HealthReport(status: .unknown, message: error) }
            if outcome.timedOut {
                return HealthReport(status: .unknown, message: "health command timed out after \(Int(timeout)) s")
            }
            let details: JSONValue = .object(["exitCode": .number(Double(outcome.exitCode ?? -1))])
            switch outcome.exitCode {
            case 0: return HealthReport(status: .up, message: line, details: details)
            case 1: return HealthReport(status: .degraded, message: line, details: details)
            case 2: return HealthReport(status: .down, message: line, details: details)
            default:
                return HealthReport(
                    status: .unknown,
                    message: line ?? "health command exited \(outcome.exitCode ?? -1)",
                    details: details
                )
            }
        }
    }

    private static func http(_ url: String, timeout: Double) async -> HealthReport {
        guard let target = URL(string: url) else { return HealthReport(status: .unknown, message: "bad URL") }
        if target.scheme == "http" {
            // Plain HTTP needs no URLSession (and none of its threads and memory): one GET on a socket.
            return await withCheckedContinuation { continuation in
                DispatchQueue.global().async { continuation.resume(returning: plainGet(target, timeout: timeout)) }
            }
        }
        // HTTPS through AsyncHTTPClient (NIO and BoringSSL, linked statically; certificates verified
        // against the system's roots): no FoundationNetworking, so no libcurl loaded into every sidecar.
        var request = HTTPClientRequest(url: url)
        request.method = .GET
        request.headers.add(name: "User-Agent", value: "capsule-agent")
        do {
            let response = try await HTTPClient.shared.execute(request, timeout: .milliseconds(Int64(timeout * 1000)))
            // Only the first 200 bytes go into the report; reading stops there, so a large (or
            // endless) health page costs neither memory nor time and is not taken for a failure.
            var head = ByteBuffer()
            for try await chunk in response.body {
                var chunk = chunk
                head.writeBuffer(&chunk)
                if head.readableBytes >= 200 { break }
            }
            return report(
                status: Int(response.status.code),
                body: String(String(buffer: head).prefix(200)).trimmingCharacters(in: .whitespacesAndNewlines)
            )
        } catch {
            return HealthReport(status: .down, message: "no answer from \(url): \(error)")
        }
    }

    /// Maps an HTTP status to health: 2xx UP, 5xx DOWN, anything else DEGRADED.
    static func report(status code: Int, body: String) -> HealthReport {
        let details: JSONValue = .object(["httpStatus": .number(Double(code))])
        let message = "HTTP \(code)" + (body.isEmpty ? "" : ": \(body.split(separator: "\n").first ?? "")")
        switch code {
        case 200..<300: return HealthReport(status: .up, message: message, details: details)
        case 500..<600: return HealthReport(status: .down, message: message, details: details)
        default: return HealthReport(status: .degraded, message: message, details: details)
        }
    }

    /// `GET` over a plain TCP socket with HTTP/1.1 and `Connection: close`, bounded by `timeout` in all.
    static func plainGet(_ url: URL, timeout: Double) -> HealthReport {
        guard let host = url.host else { return HealthReport(status: .unknown, message: "bad URL") }
        let port = url.port ?? 80
        let deadline = Date().addingTimeInterval(timeout)
        let (fd, failure) = open(host: host, port: port, timeout: timeout)
        guard fd >= 0 else {
            return HealthReport(status: .down, message: "no answer from \(url.absoluteString): \(failure)")
        }
        defer { close(fd) }
        let path = (url.path.isEmpty ? "/" : url.path) + (url.query.map { "?\($0)" } ?? "")
        let request =
            "GET \(path) HTTP/1.1\r\nHost: \(host):\(port)\r\nUser-Agent: capsule-agent\r\nAccept: */*\r\nConnection: close\r\n\r\n"
        let sent = request.utf8CString.withUnsafeBufferPointer {
            send(fd, $0.baseAddress, $0.count - 1, Int32(MSG_NOSIGNAL))
        }
        guard sent == request.utf8.count else {
            return HealthReport(status: .down, message: "could not send to \(url.absoluteString)")
        }
        var response = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while response.count < 16_384 {
            let left = deadline.timeIntervalSinceNow
            guard left > 0 else { break }
            var poll = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard Glibc.poll(&poll, 1, Int32(left * 1000)) > 0 else { break }
            let n = recv(fd, &buffer, buffer.count, 0)
            if n <= 0 { break }
            response += buffer[0..<n]
            if let text = String(bytes: response, encoding: .utf8), text.contains("\r\n\r\n"), response.count > 512 {
                break
            }
        }
        let text = String(decoding: response, as: UTF8.self)
        let statusLine = text.split(separator: "\r\n", maxSplits: 1).first.map(String.init) ?? ""
        let parts = statusLine.split(separator: " ")
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/"), let code = Int(parts[1]) else {
            return HealthReport(
                status: .down,
                message: response.isEmpty
                    ? "no answer from \(url.absoluteString) within \(timeout) s"
                    : "not an HTTP answer from \(url.absoluteString)"
            )
        }
        let body = text.components(separatedBy: "\r\n\r\n").dropFirst().joined(separator: "\r\n\r\n")
        return report(status: code, body: String(body.prefix(200)).trimmingCharacters(in: .whitespacesAndNewlines))
    }

    private static func tcp(host: String, port: Int, timeout: Double) async -> HealthReport {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(returning: connect(host: host, port: port, timeout: timeout))
            }
        }
    }

    private static func connect(host: String, port: Int, timeout: Double) -> HealthReport {
        let (fd, failure) = open(host: host, port: port, timeout: timeout)
        guard fd >= 0 else { return HealthReport(status: .down, message: failure) }
        close(fd)
        return HealthReport(status: .up, message: "connected to \(host):\(port)")
    }

    /// A connected TCP socket (blocking again after the bounded connect), or -1 and why not.
    private static func open(host: String, port: Int, timeout: Double) -> (Int32, String) {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &result) == 0, let first = result else {
            return (-1, "cannot resolve \(host)")
        }
        defer { freeaddrinfo(result) }
        let fd = socket(first.pointee.ai_family, first.pointee.ai_socktype, first.pointee.ai_protocol)
        guard fd >= 0 else { return (-1, "socket() failed") }
        let flags = fcntl(fd, F_GETFL)
        _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
        let rc = Glibc.connect(fd, first.pointee.ai_addr, first.pointee.ai_addrlen)
        if rc != 0 && errno != EINPROGRESS {
            close(fd)
            return (-1, "connect to \(host):\(port) refused")
        }
        var poll = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
        guard Glibc.poll(&poll, 1, Int32(timeout * 1000)) > 0 else {
            close(fd)
            return (-1, "connect to \(host):\(port) timed out")
        }
        var error: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length)
        guard error == 0 else {
            close(fd)
            return (-1, "connect to \(host):\(port) failed: \(String(cString: strerror(error)))")
        }
        _ = fcntl(fd, F_SETFL, flags)
        return (fd, "")
    }
}
