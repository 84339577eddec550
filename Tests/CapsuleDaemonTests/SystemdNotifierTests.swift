import CapsuleDaemon
import Foundation
import Testing

/// sd_notify over a real unix datagram socket bound where systemd would bind NOTIFY_SOCKET.
struct SystemdNotifierTests {
    /// A bound SOCK_DGRAM socket that receives what the notifier sends.
    final class FakeSystemd: @unchecked Sendable {
        let path: String
        let fd: Int32

        init(abstract: Bool = false) throws {
            let name = "capsule-notify-\(UUID().uuidString.prefix(8))"
            path =
                abstract
                ? "@\(name)" : FileManager.default.temporaryDirectory.appendingPathComponent("\(name).sock").path
            fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            var bytes = Array(path.utf8)
            if abstract { bytes[0] = 0 }
            withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
            let length = socklen_t(
                MemoryLayout<sockaddr_un>.offset(of: \sockaddr_un.sun_path)! + bytes.count + (abstract ? 0 : 1)
            )
            let rc = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
            }
            guard rc == 0 else { throw POSIXError(.EADDRINUSE) }
            var timeout = timeval(tv_sec: 30, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        }

        deinit {
            close(fd)
            if !path.hasPrefix("@") { unlink(path) }
        }

        /// The next datagram, as text (nil after 30 s).
        func receive() -> String? {
            var buffer = [UInt8](repeating: 0, count: 4096)
            let count = recv(fd, &buffer, buffer.count, 0)
            return count > 0 ? String(decoding: buffer.prefix(count), as: UTF8.self) : nil
        }
    }

    @Test func readyWatchdogAndStoppingArriveAsDatagrams() throws {
        let systemd = try FakeSystemd()
        let notifier = SystemdNotifier(environment: ["NOTIFY_SOCKET": systemd.path])
        #expect(notifier.isEnabled)
        #expect(notifier.ready(status: "routing on tcp://127.0.0.1:7403"))
        let ready = try #require(systemd.receive())
        #expect(ready.split(separator: "\n").contains("READY=1"))
        #expect(ready.split(separator: "\n").contains("STATUS=routing on tcp://127.0.0.1:7403"))
        #expect(ready.split(separator: "\n").contains("MAINPID=\(getpid())"))
        #expect(notifier.watchdog())
        #expect(systemd.receive() == "WATCHDOG=1\n")
        #expect(notifier.stopping())
        #expect(systemd.receive() == "STOPPING=1\n")
    }

    @Test func theAbstractNamespaceWorksToo() throws {
        let systemd = try FakeSystemd(abstract: true)
        let notifier = SystemdNotifier(environment: ["NOTIFY_SOCKET": systemd.path])
        #expect(notifier.watchdog())
        #expect(systemd.receive() == "WATCHDOG=1\n")
    }

    @Test func aNewlineInAStatusCannotAddAnAssignment() throws {
        let systemd = try FakeSystemd()
        let notifier = SystemdNotifier(environment: ["NOTIFY_SOCKET": systemd.path])
        #expect(notifier.status("ok\nREADY=1"))
        #expect(systemd.receive() == "STATUS=ok READY=1\n")
    }

    @Test func theWatchdogPingsAtHalfOfWatchdogUsec() {
        let notifier = SystemdNotifier(environment: ["NOTIFY_SOCKET": "/run/x", "WATCHDOG_USEC": "20000000"], pid: 42)
        #expect(notifier.watchdogInterval == .seconds(20))
        #expect(notifier.watchdogPingInterval == .seconds(10))
        // WATCHDOG_PID names another process: the watchdog is not ours.
        let other = SystemdNotifier(
            environment: ["NOTIFY_SOCKET": "/run/x", "WATCHDOG_USEC": "20000000", "WATCHDOG_PID": "7"],
            pid: 42
        )
        #expect(other.watchdogPingInterval == nil)
        let mine = SystemdNotifier(
            environment: ["NOTIFY_SOCKET": "/run/x", "WATCHDOG_USEC": "20000000", "WATCHDOG_PID": "42"],
            pid: 42
        )
        #expect(mine.watchdogPingInterval == .seconds(10))
    }

    @Test func outsideSystemdNothingIsSent() {
        let notifier = SystemdNotifier(environment: [:])
        #expect(!notifier.isEnabled)
        #expect(!notifier.ready())
        #expect(notifier.watchdogPingInterval == nil)
    }
}
