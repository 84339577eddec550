import CoreMetrics
import Logging
import Metrics

/// Counts dropped messages by reason and logs them without letting a flood fill the log.
struct DropCounter {
    private(set) var counts: [String: Int] = [:]
    private var loggedThisSecond = 0
    private var second = 0
    /// `capsule_broker_drops_total{reason}`, one counter per reason. Reasons are the broker's own
    /// fixed words and error codes; past a cap, others share `other`, so the label stays bounded.
    private var counters: [String: Counter] = [:]
    static let maxReasons = 32

    mutating func drop(_ reason: String, sender: String, detail: String, logger: Logger, now: Double) {
        counts[reason, default: 0] += 1
        counter(reason).increment()
        let currentSecond = Int(now)
        if currentSecond != second {
            second = currentSecond
            loggedThisSecond = 0
        }
        loggedThisSecond += 1
        guard loggedThisSecond <= 20 else { return }
        logger.warning(
            "Dropped a message.",
            metadata: [
                "drop.reason": "\(reason)", "peer": "\(sender)", "drop.detail": "\(detail)",
                "drop.count": "\(counts[reason, default: 0])",
            ]
        )
    }

    private mutating func counter(_ reason: String) -> Counter {
        if let counter = counters[reason] { return counter }
        guard counters.count < Self.maxReasons else { return Self.other }
        let counter = Counter(label: "capsule_broker_drops_total", dimensions: [("reason", reason)])
        counters[reason] = counter
        return counter
    }

    private static var other: Counter {
        Counter(label: "capsule_broker_drops_total", dimensions: [("reason", "other")])
    }

    var total: Int { counts.values.reduce(0, +) }
}
