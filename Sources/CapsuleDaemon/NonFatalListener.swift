import CapsuleHTTP
import CapsuleRuntime
import CapsuleZMQ
import Foundation
import Logging
import Prometheus
import ServiceLifecycle
import UnixSignals

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
