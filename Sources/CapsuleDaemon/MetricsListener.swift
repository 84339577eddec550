package import CapsuleHTTP
import CapsuleRuntime
import CapsuleZMQ
import Foundation
import Logging
package import Prometheus
import ServiceLifecycle
import UnixSignals

/// What the metrics listener needs.
package struct MetricsListener: Sendable {
    package var bind: HTTPBindAddress
    package var registry: PrometheusCollectorRegistry
    package var onListening: @Sendable (HTTPBindAddress) -> Void

    package init(
        bind: HTTPBindAddress,
        registry: PrometheusCollectorRegistry,
        onListening: @escaping @Sendable (HTTPBindAddress) -> Void = { _ in }
    ) {
        self.bind = bind
        self.registry = registry
        self.onListening = onListening
    }
}
