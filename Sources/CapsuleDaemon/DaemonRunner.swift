import CapsuleHTTP
import CapsuleRuntime
import CapsuleZMQ
import Foundation
import Logging
import Prometheus
import ServiceLifecycle
import UnixSignals

/// Runs one daemon: its loop service, its metrics listener, and systemd's readiness and watchdog,
/// in one `ServiceGroup` that SIGTERM and SIGINT shut down gracefully.
package enum DaemonRunner {
    package static func run<Core: LoopCore>(
        _ service: LoopService<Core>, program: String, metrics: MetricsListener?, logger: Logger, readyStatus: String,
        notifier: SystemdNotifier = SystemdNotifier(), signals: [UnixSignal] = [.sigterm, .sigint]
    ) async throws {
        let thread = service.thread
        try await run(service, program: program, metrics: metrics, logger: logger, readyStatus: readyStatus, notifier: notifier,
                      signals: signals) { job in
            // Runs on the loop thread: READY only once its sockets are bound, WATCHDOG only while it turns.
            thread.post { _ in job() }
        }
    }

    /// - Parameter onLoop: runs a job where liveness matters (the loop thread); READY and WATCHDOG go through it.
    package static func run(
        _ service: any Service, program: String, metrics: MetricsListener?, logger: Logger, readyStatus: String,
        notifier: SystemdNotifier = SystemdNotifier(), signals: [UnixSignal] = [.sigterm, .sigint],
        onLoop: @escaping @Sendable (@escaping @Sendable () -> Void) -> Void
    ) async throws {
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [.init(service: service)]
        if let metrics {
            services.append(.init(service: NonFatalListener(listener: HTTPListener(
                bind: metrics.bind, name: "metrics", logger: logger, onListening: metrics.onListening,
                routes: MetricsRoutes.install(metrics.registry, program: program)), logger: logger),
                successTerminationBehavior: .ignore))
        }
        services.append(.init(service: SystemdService(notifier: notifier, status: readyStatus, onLoop: onLoop, logger: logger),
                              successTerminationBehavior: .ignore))
        let group = ServiceGroup(configuration: .init(services: services, gracefulShutdownSignals: signals, logger: logger))
        try await group.run()
    }
}

/// What the metrics listener needs.
package struct MetricsListener: Sendable {
    package var bind: HTTPBindAddress
    package var registry: PrometheusCollectorRegistry
    package var onListening: @Sendable (HTTPBindAddress) -> Void

    package init(bind: HTTPBindAddress, registry: PrometheusCollectorRegistry, onListening: @escaping @Sendable (HTTPBindAddress) -> Void = { _ in }) {
        self.bind = bind
        self.registry = registry
        self.onListening = onListening
    }
}

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

/// The metrics listener, kept from taking the daemon down: when its address cannot be bound (a port
/// taken by another process), the error is logged and the daemon runs on without metrics. Metrics
/// are not worth an outage of the control plane (docs/decisions.md).
struct NonFatalListener: Service {
    let listener: HTTPListener
    let logger: Logger

    func run() async throws {
        do {
            try await listener.run()
        } catch {
            logger.error("Metrics are not served.", metadata: ["error": "\(error)"])
            try? await gracefulShutdown()
        }
    }
}
