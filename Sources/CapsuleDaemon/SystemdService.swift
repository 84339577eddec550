import CapsuleHTTP
import CapsuleRuntime
import CapsuleZMQ
import Foundation
import Logging
import Prometheus
import ServiceLifecycle
import UnixSignals

/// Tells systemd `READY=1` once the loop has started, `WATCHDOG=1` at half of `WATCHDOG_USEC` from
/// the loop thread itself (a stuck loop stops the pings, and systemd restarts the daemon), and
/// `STOPPING=1` when a graceful shutdown begins. Outside systemd it only waits.
struct SystemdService: Service {
    let notifier: SystemdNotifier
    let status: String
    let onLoop: @Sendable (@escaping @Sendable () -> Void) -> Void
    let logger: Logger

    func run() async throws {
        let notifier = notifier
        let status = status
        guard notifier.isEnabled else {
            try? await gracefulShutdown()
            return
        }
        onLoop { notifier.ready(status: status) }
        let ping = notifier.watchdogPingInterval
        logger.debug("Notifying systemd.", metadata: ["systemd.watchdog": "\(ping.map { "\($0)" } ?? "off")"])
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try await Task.sleep(for: ping ?? .seconds(3_600))
                if ping != nil { self.onLoop { notifier.watchdog() } }
            }
        }
        notifier.stopping()
    }
}
