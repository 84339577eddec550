import CapsuleHTTP
package import CapsuleRuntime
package import CapsuleZMQ
import Foundation
package import Logging
import Prometheus
package import ServiceLifecycle
package import UnixSignals

/// Runs one daemon: its loop service, its metrics listener, and systemd's readiness and watchdog,
/// in one `ServiceGroup` that SIGTERM and SIGINT shut down gracefully.
package enum DaemonRunner {
    package static func run<Core: LoopCore>(
        _ service: LoopService<Core>,
        program: String,
        metrics: MetricsListener?,
        logger: Logger,
        readyStatus: String,
        notifier: SystemdNotifier = SystemdNotifier(),
        signals: [UnixSignal] = [.sigterm, .sigint]
    ) async throws {
        let thread = service.thread
        try await run(
            service,
            program: program,
            metrics: metrics,
            logger: logger,
            readyStatus: readyStatus,
            notifier: notifier,
            signals: signals
        ) { job in
            // Runs on the loop thread: READY only once its sockets are bound, WATCHDOG only while it turns.
            thread.post { _ in job() }
        }
    }

    /// - Parameter onLoop: runs a job where liveness matters (the loop thread); READY and WATCHDOG go through it.
    package static func run(
        _ service: any Service,
        program: String,
        metrics: MetricsListener?,
        logger: Logger,
        readyStatus: String,
        notifier: SystemdNotifier = SystemdNotifier(),
        signals: [UnixSignal] = [.sigterm, .sigint],
        onLoop: @escaping @Sendable (@escaping @Sendable () -> Void) -> Void
    ) async throws {
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [.init(service: service)]
        if let metrics {
            services.append(
                .init(
                    service: NonFatalListener(
                        listener: HTTPListener(
                            bind: metrics.bind,
                            name: "metrics",
                            logger: logger,
                            onListening: metrics.onListening,
                            routes: MetricsRoutes.install(metrics.registry, program: program)
                        ),
                        logger: logger
                    ),
                    successTerminationBehavior: .ignore
                )
            )
        }
        services.append(
            .init(
                service: SystemdService(notifier: notifier, status: readyStatus, onLoop: onLoop, logger: logger),
                successTerminationBehavior: .ignore
            )
        )
        let group = ServiceGroup(
            configuration: .init(services: services, gracefulShutdownSignals: signals, logger: logger)
        )
        try await group.run()
    }
}
