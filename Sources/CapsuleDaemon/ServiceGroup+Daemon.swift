import Logging
import ServiceLifecycle
import UnixSignals

extension ServiceGroup {
    /// Runs one daemon's service until SIGTERM or SIGINT asks it to shut down gracefully.
    package static func runUntilSignalled(_ service: any Service, logger: Logger) async throws {
        let group = ServiceGroup(
            configuration: .init(services: [.init(service: service)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}
