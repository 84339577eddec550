import CapsuleDomain
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

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
            if outcome.timedOut { return HealthReport(status: .unknown, message: "health command timed out after \(Int(timeout)) s") }
            let details: JSONValue = .object(["exitCode": .number(Double(outcome.exitCode ?? -1))])
            switch outcome.exitCode {
            case 0: return HealthReport(status: .up, message: line, details: details)
            case 1: return HealthReport(status: .degraded, message: line, details: details)
            case 2: return HealthReport(status: .down, message: line, details: details)
            default: return HealthReport(status: .unknown, message: line ?? "health command exited \(outcome.exitCode ?? -1)", details: details)
            }
        }
    }

    private static func http(_ url: String, timeout: Double) async -> HealthReport {
        guard let target = URL(string: url) else { return HealthReport(status: .unknown, message: "bad URL") }
        var request = URLRequest(url: target, timeoutInterval: timeout)
        request.httpMethod = "GET"
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = timeout
        configuration.timeoutIntervalForResource = timeout
        let session = URLSession(configuration: configuration)
        defer { session.finishTasksAndInvalidate() }
        do {
            let (data, response) = try await session.data(for: request)
            let code = (response as? HTTPURLResponse)?.statusCode ?? 0
            let body = String(decoding: data.prefix(200), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            let details: JSONValue = .object(["httpStatus": .number(Double(code))])
            let message = "HTTP \(code)" + (body.isEmpty ? "" : ": \(body.split(separator: "\n").first ?? "")")
            switch code {
            case 200..<300: return HealthReport(status: .up, message: message, details: details)
            case 500..<600: return HealthReport(status: .down, message: message, details: details)
            default: return HealthReport(status: .degraded, message: message, details: details)
            }
        } catch {
            return HealthReport(status: .down, message: "no answer from \(url): \(error.localizedDescription)")
        }
    }

    private static func tcp(host: String, port: Int, timeout: Double) async -> HealthReport {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(returning: connect(host: host, port: port, timeout: timeout))
            }
        }
    }

    private static func connect(host: String, port: Int, timeout: Double) -> HealthReport {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &result) == 0, let first = result else {
            return HealthReport(status: .down, message: "cannot resolve \(host)")
        }
        defer { freeaddrinfo(result) }
        let fd = socket(first.pointee.ai_family, first.pointee.ai_socktype, first.pointee.ai_protocol)
        guard fd >= 0 else { return HealthReport(status: .unknown, message: "socket() failed") }
        defer { close(fd) }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        let rc = Glibc.connect(fd, first.pointee.ai_addr, first.pointee.ai_addrlen)
        if rc != 0 && errno != EINPROGRESS {
            return HealthReport(status: .down, message: "connect to \(host):\(port) refused")
        }
        var poll = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
        let ready = Glibc.poll(&poll, 1, Int32(timeout * 1000))
        guard ready > 0 else { return HealthReport(status: .down, message: "connect to \(host):\(port) timed out") }
        var error: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length)
        guard error == 0 else { return HealthReport(status: .down, message: "connect to \(host):\(port) failed: \(String(cString: strerror(error)))") }
        return HealthReport(status: .up, message: "connected to \(host):\(port)")
    }
}
