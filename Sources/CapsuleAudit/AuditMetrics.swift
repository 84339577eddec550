import CoreMetrics
import Foundation
import Metrics

/// The audit writer's metrics, through the swift-metrics API. Labels are the publishers the writer
/// follows (a fixed set), never a subject.
struct AuditMetrics {
    private let stored: [String: Counter]
    private let lag: [String: Gauge]
    private let storeWrite = Metrics.Timer(label: "capsule_store_write_seconds")
    private let followers = Gauge(label: "capsule_audit_followers_waiting")

    func waiting(_ count: Int) { followers.record(count) }

    init(publishers: Set<String>) {
        stored = Dictionary(
            uniqueKeysWithValues: publishers.sorted().map {
                ($0, Counter(label: "capsule_audit_events_stored_total", dimensions: [("publisher", $0)]))
            }
        )
        lag = Dictionary(
            uniqueKeysWithValues: publishers.sorted().map {
                ($0, Gauge(label: "capsule_audit_lag_events", dimensions: [("publisher", $0)]))
            }
        )
    }

    func stored(_ publisher: String, count: Int) { stored[publisher]?.increment(by: count) }

    /// How many events a publisher's journal holds beyond what is stored (from its beacon).
    func lag(_ publisher: String, events: Int) { lag[publisher]?.record(max(0, events)) }

    /// Times one store write.
    func timeWrite<T>(_ body: () throws -> T) rethrows -> T {
        let start = DispatchTime.now().uptimeNanoseconds
        defer { storeWrite.recordNanoseconds(Int64(DispatchTime.now().uptimeNanoseconds - start)) }
        return try body()
    }
}
