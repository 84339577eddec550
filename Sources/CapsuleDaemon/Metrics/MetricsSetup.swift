import ArgumentParser
import CapsuleHTTP
import CapsuleProtocol
package import Foundation
import Metrics
package import Prometheus

/// Picks the metrics backend for this process (only `main` calls it): swift-metrics, which the
/// libraries use, writes into a Prometheus registry that the metrics listener reads.
package enum MetricsSetup {
    /// Histogram buckets for latencies from a fraction of a millisecond (a store commit) to seconds.
    package static let latencyBuckets: [Duration] = [
        .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10),
        .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1),
        .milliseconds(2_500), .seconds(5), .seconds(10),
    ]

    /// Buckets for a command's round trip (created → result), up to the default TTL and beyond.
    package static let commandBuckets: [Duration] = [
        .milliseconds(10), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1),
        .seconds(2), .seconds(5), .seconds(10), .seconds(30), .seconds(60), .seconds(120), .seconds(300), .seconds(900),
    ]

    /// Names whose histograms use ``commandBuckets``.
    package static let commandHistograms = ["capsule_broker_command_round_trip_seconds"]

    /// Bootstraps swift-metrics with a Prometheus registry and records `capsule_build_info` and the
    /// process start time. Call once per process.
    package static func bootstrap(program: String, now: Date = Date()) -> PrometheusCollectorRegistry {
        let registry = makeRegistry(program: program, now: now)
        MetricsSystem.bootstrap(factory(registry))
        return registry
    }

    /// A registry with this build's info, and the factory that writes into it (tests use these
    /// without touching the process-wide bootstrap).
    package static func makeRegistry(program: String, now: Date = Date()) -> PrometheusCollectorRegistry {
        let registry = PrometheusCollectorRegistry()
        registry.makeGauge(
            descriptor: MetricNameDescriptor(
                metricName: "capsule_build_info",
                unitName: "",
                helpText: "Always 1; the labels name this build."
            ),
            labels: [
                ("program", program), ("version", CapsuleVersion.current),
                ("commit", CapsuleVersion.commit ?? "unknown"),
                ("protocol", String(WireCodec.version)),
            ]
        ).set(to: 1.0)
        registry.makeGauge(
            descriptor: MetricNameDescriptor(
                metricName: "capsule_process_start_time",
                unitName: "seconds",
                helpText: "Start time of the process, Unix seconds."
            )
        ).set(to: now.timeIntervalSince1970)
        return registry
    }

    package static func factory(_ registry: PrometheusCollectorRegistry) -> PrometheusMetricsFactory {
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = latencyBuckets
        for name in commandHistograms { factory.durationHistogramBuckets[name] = commandBuckets }
        return factory
    }
}

extension MetricsListener {
    /// `--metrics-bind` as given: `HOST:PORT` bootstraps the metrics backend and returns the
    /// listener; `off` returns nil (metrics calls then cost nothing).
    package static func from(_ bind: String, program: String) throws -> MetricsListener? {
        guard let address = try HTTPBindAddress.parse(bind) else { return nil }
        return MetricsListener(bind: address, registry: MetricsSetup.bootstrap(program: program))
    }

    /// Validation for `--metrics-bind`, as a usage error.
    package static func validate(_ bind: String) throws {
        do {
            _ = try HTTPBindAddress.parse(bind)
        } catch {
            throw ValidationError("--metrics-bind: \(error.description)")
        }
    }
}
