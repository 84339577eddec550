import Foundation

/// The sd_notify datagram protocol (sd_notify(3)), without libsystemd: each state is one datagram of
/// `KEY=VALUE` lines sent to the unix socket named by `NOTIFY_SOCKET` (a path, or `@name` for the
/// abstract namespace). Outside systemd (`NOTIFY_SOCKET` unset) every call does nothing.
///
/// The watchdog interval comes from `WATCHDOG_USEC` (and applies only when `WATCHDOG_PID`, if set,
/// is this process); pings should go at half of it.
package struct SystemdNotifier: Sendable {
    /// The socket address, or nil outside systemd.
    package let socketPath: String?
    /// systemd's watchdog timeout, when the unit sets `WatchdogSec=` for this process.
    package let watchdogInterval: Duration?

    package init(environment: [String: String] = ProcessInfo.processInfo.environment, pid: Int32 = getpid()) {
        let path = environment["NOTIFY_SOCKET"].flatMap { $0.isEmpty ? nil : $0 }
        socketPath = path.flatMap { $0.hasPrefix("/") || $0.hasPrefix("@") ? $0 : nil }
        if let usec = environment["WATCHDOG_USEC"].flatMap(UInt64.init), usec > 0,
            environment["WATCHDOG_PID"].flatMap(Int32.init).map({ $0 == pid }) ?? true
        {
            watchdogInterval = .microseconds(Int64(usec))
        } else {
            watchdogInterval = nil
        }
    }

    package var isEnabled: Bool { socketPath != nil }

    /// Half the watchdog timeout: how often to send `WATCHDOG=1`.
    package var watchdogPingInterval: Duration? { watchdogInterval.map { $0 / 2 } }

    /// `READY=1`, with a status line for `systemctl status`.
    @discardableResult
    package func ready(status: String? = nil) -> Bool {
        send(["READY=1"] + (status.map { ["STATUS=\($0)"] } ?? []) + ["MAINPID=\(getpid())"])
    }

    @discardableResult
    package func watchdog() -> Bool { send(["WATCHDOG=1"]) }

    @discardableResult
    package func stopping() -> Bool { send(["STOPPING=1"]) }

    @discardableResult
    package func status(_ text: String) -> Bool { send(["STATUS=\(text)"]) }

    /// Sends one datagram; true when it was sent. Newlines inside a value would start a new
    /// assignment, so they are replaced by spaces.
    @discardableResult
    package func send(_ assignments: [String]) -> Bool {
        guard let socketPath else { return false }
        let text = assignments.map { $0.replacingOccurrences(of: "\n", with: " ") }.joined(separator: "\n") + "\n"
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var pathBytes = Array(socketPath.utf8)
        if pathBytes.first == UInt8(ascii: "@") { pathBytes[0] = 0 }  // the abstract namespace starts with a NUL byte
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard pathBytes.count < capacity else { return false }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: pathBytes)
        }
        let length = socklen_t(
            MemoryLayout<sockaddr_un>.offset(of: \sockaddr_un.sun_path)! + pathBytes.count
                + (pathBytes.first == 0 ? 0 : 1)
        )
        let bytes = Array(text.utf8)
        let sent = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                bytes.withUnsafeBytes {
                    sendto(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL), socketAddress, length)
                }
            }
        }
        return sent == bytes.count
    }
}
